"""Filled forms: Chinese text, embedded CJK font, no network or file access, versions by data."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import storages
from django.utils import timezone
from pypdf import PdfReader

from documents import forms_pdf, services
from documents.checklist import GENERATED_FORMS
from documents.form_codes import form_code
from documents.models import DocumentVersion
from onboarding.models import OnboardingCase
from onboarding.services import CaseError
from onboarding.states import State
from tests.factories import enterprise, user

LABELS = {
    "application_form": ["银企直联申请表", "统一社会信用代码", "法定代表人", "申请单位(公章)", "功能模块", "结算账户"],
    "service_agreement": ["银企直联业务合作协议", "甲方", "乙方", "第一条", "公章"],
    "authorisation_letter": ["法人授权委托书", "委托人(法定代表人)", "受托人(授权代理人)", "授权期限", "签字"],
    "ebanking_registration": ["电子银行业务注册表", "第一联 银行留存", "第二联 客户留存", "UKey序列号", "业务章"],
    "production_verification": ["生产验证确认单", "生产证书序列号", "小额实单交易验证", "客户确认"],
    "termination_form": ["银企直联服务注销申请书", "申请单位(公章)", "直联服务编号", "操作员及UKey", "银行审批"],
    "link_change_form": ["银企直联业务变更申请书", "申请单位(公章)", "直联服务编号", "变更类型", "银行审核"],
}


@pytest.fixture
def live_case(world):
    company = enterprise(world.branch_a, handler_is_rep=False, name="北京堃喆医药科技有限公司")
    user("customer_z", "enterprise_user", enterprise=company)
    return world.case(State.LIVE, company=company)


def _render(case, kind, fetcher=None):
    context = forms_pdf.form_context(case, kind)
    return forms_pdf.render_form(kind, context, number=1, generated_at=timezone.now(), fetcher=fetcher)


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("kind", GENERATED_FORMS)
def test_form_prints_the_case_data_with_chinese_labels_and_an_embedded_cjk_font(live_case, kind, tmp_path):
    fetcher = forms_pdf.StaticOnlyFetcher()
    pdf = _render(live_case, kind, fetcher)
    text = _text(pdf)
    ent = live_case.enterprise
    for expected in [ent.name, ent.uscc, ent.legal_rep_name, *LABELS[kind]]:
        assert expected in text, expected
    assert f"{live_case.reference}-{forms_pdf.CODES[kind]}-01" in text  # reference number
    assert f"表单码 {form_code(live_case, kind)}" in text  # the code a signed scan is matched by
    assert "第 1 页" in text  # page numbers
    assert "生成时间" in text
    # Our own stylesheet was served; nothing was refused.
    assert any(url.endswith("/documents/forms.css") for url in fetcher.requested)
    assert fetcher.refused == []
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "Noto-Sans-CJK-SC" in line]
    assert cjk, fonts
    for line in cjk:
        assert line.split()[-5] == "yes", line  # the "emb" column


def test_registration_form_has_a_bank_copy_and_a_customer_copy(live_case):
    reader = PdfReader(io.BytesIO(_render(live_case, "ebanking_registration")))
    assert len(reader.pages) >= 2
    assert "第一联 银行留存" in reader.pages[0].extract_text()
    assert "第二联 客户留存" in reader.pages[-1].extract_text()


def test_markup_in_company_data_prints_as_text_and_fetches_nothing(world, monkeypatch):
    evil = '<img src="file:///etc/passwd">'
    company = enterprise(world.branch_a, name=evil)
    company.registered_address = '<link rel="stylesheet" href="http://127.0.0.1:1/x.css">'
    company.save()
    case = world.case(State.BRANCH_INTAKE, company=company)

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", no_network)
    fetcher = forms_pdf.StaticOnlyFetcher()
    text = _render(case, "application_form", fetcher)
    printed = _text(text)
    assert evil in printed
    assert "http://127.0.0.1:1/x.css" in printed
    assert all("passwd" not in url and "127.0.0.1" not in url for url in fetcher.requested)


def test_fetcher_refuses_the_network_and_files_outside_static(monkeypatch):
    connections = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connections.append(a))
    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: connections.append(a))
    fetcher = forms_pdf.StaticOnlyFetcher()
    html = (
        '<html><head><link rel="stylesheet" href="documents/forms.css">'
        '<link rel="stylesheet" href="http://127.0.0.1:1/evil.css"></head>'
        '<body><p>测试</p><img src="http://127.0.0.1:1/x.png"><img src="file:///etc/passwd">'
        '<img src="../../config/settings.py"><img src="documents/../../../etc/hostname">'
        '<img src="data:image/png;base64,iVBORw0KGgo="></body></html>'
    )
    pdf = forms_pdf.html_to_pdf(html, fetcher=fetcher)
    assert pdf.startswith(b"%PDF-")
    assert connections == []
    assert "http://127.0.0.1:1/x.png" in fetcher.refused
    assert "http://127.0.0.1:1/evil.css" in fetcher.refused
    assert "file:///etc/passwd" in fetcher.refused
    assert any(url.endswith("config/settings.py") for url in fetcher.refused)
    assert any(url.startswith("data:") for url in fetcher.refused)
    assert [u for u in fetcher.requested if u not in fetcher.refused] == [forms_pdf.BASE_URL + "documents/forms.css"]


def test_generated_form_is_kept_as_a_version_and_changes_make_a_new_one(world, live_case):
    v1, created = services.form_generate(case=live_case, user=world.am_a, kind="application_form")
    assert created and v1.number == 1 and v1.document.generated
    stored = storages["documents"].open(v1.storage_name).read()
    assert hashlib.sha256(stored).hexdigest() == v1.sha256
    assert f"{live_case.reference}-SQB-01" in _text(stored)
    customer = get_user_model().objects.get(username="customer_z")
    same, created = services.form_generate(case=live_case, user=customer, kind="application_form")
    assert (same.pk, created) == (v1.pk, False)
    OnboardingCase.objects.filter(pk=live_case.pk).update(erp_system="金蝶云星空")
    live_case.refresh_from_db()
    v2, created = services.form_generate(case=live_case, user=world.am_a, kind="application_form")
    assert created and v2.number == 2
    assert "金蝶云星空" in _text(storages["documents"].open(v2.storage_name).read())
    assert DocumentVersion.objects.filter(document=v1.document).count() == 2


@pytest.mark.parametrize(
    ("who", "kind", "message"),
    [
        ("auditor", "application_form", "没有生成表单的权限"),
        ("am_b", "application_form", "管辖范围"),
        ("customer_y", "application_form", "管辖范围"),
        ("am_a", "test_report", "不需要此表单"),
    ],
)
def test_who_may_not_generate(world, who, kind, message):
    case = world.case(State.BRANCH_INTAKE)
    with pytest.raises(CaseError) as exc:
        services.form_generate(case=case, user=getattr(world, who), kind=kind)
    assert message in exc.value.message
    assert not DocumentVersion.objects.filter(document__generated=True).exists()


def test_authorisation_letter_is_only_offered_when_needed(world):
    case = world.case(State.BRANCH_INTAKE)  # company_x: the handler is the legal representative
    with pytest.raises(CaseError):
        services.form_generate(case=case, user=world.am_a, kind="authorisation_letter")
