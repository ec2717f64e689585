"""The steps issue 25's walk cut, from the user's side: several documents uploaded in one form,
every document waiting on the reviewer accepted with one button, and the test package and the
production configuration pre-filled."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from documents import checklist
from documents.models import Decision, DocumentVersion
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import enterprise
from tests.html_forms import page_forms
from tests.test_documents_many import PDF, upload_all


def intake_kinds(case) -> list[str]:
    return [r.kind for r in checklist.requirements(case) if r.stage == State.BRANCH_INTAKE and r.required]


def test_the_customer_uploads_several_documents_in_one_form(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    client.force_login(world.customer_x)
    page = f"/portal/cases/{case.public_id}/"
    url = reverse("document_upload_many", args=[case.public_id])
    (form,) = [f for f in page_forms(client.get(page).content.decode()) if f.action == url]
    kinds = intake_kinds(case)
    files = [c.name for c in form.controls if c.type == "file"]
    assert files == [f"file-{k}" for k in kinds]
    data: dict = {c.name: c.value for c in form.controls if c.type == "hidden"}
    data |= {f"file-{k}": SimpleUploadedFile(f"{k}.pdf", PDF) for k in kinds[1:]}
    data[f"file-{kinds[0]}"] = SimpleUploadedFile("broken.pdf", b"not a pdf at all")  # refused, named
    response = client.post(url, data, follow=True)
    uploaded = DocumentVersion.objects.filter(document__case=case)
    assert sorted(uploaded.values_list("document__kind", flat=True)) == sorted(kinds[1:])
    text = response.content.decode()
    assert text.count("已上传:") >= len(kinds) - 1
    # With one left to provide the form is not shown: its row's own upload is the way.
    assert not [f for f in page_forms(client.get(page).content.decode()) if f.action == url]


def test_another_company_cannot_upload_to_the_case(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    client.force_login(world.customer_y)
    url = reverse("document_upload_many", args=[case.public_id])
    kind = intake_kinds(case)[0]
    assert client.post(url, {f"file-{kind}": SimpleUploadedFile("a.pdf", PDF)}).status_code == 404
    assert not DocumentVersion.objects.filter(document__case=case).exists()


def test_accept_all_accepts_every_document_waiting_on_the_reviewer(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    upload_all(case, world.customer_x)
    client.force_login(world.am_a)
    url = reverse("document_review_many", args=[case.public_id])
    html = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "全部审核通过(5 份)" in html
    (form,) = [
        f
        for f in page_forms(html)
        if f.action == url and any(c.type == "hidden" and c.name == "versions" for c in f.controls)
    ]
    data = {
        "version": case.version,
        "decision": "accept",
        "versions": [c.value for c in form.controls if c.name == "versions"],
    }
    client.post(url, data)
    assert DocumentVersion.objects.filter(document__case=case, decision=Decision.ACCEPTED).count() == 5
    # Nobody reviews their own upload: the uploader is offered no such button.
    case2 = world.case(State.BRANCH_INTAKE, documents=False, company=enterprise(world.branch_a, name="丁公司"))
    upload_all(case2, world.am_a)
    assert "全部审核通过" not in client.get(reverse("case_detail", args=[case2.public_id])).content.decode()


def test_the_package_and_the_configuration_start_from_what_the_bank_issued_last(client, world):
    earlier = world.case(State.PRODUCTION_VERIFICATION, company=enterprise(world.branch_a, name="丙公司"))
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    client.force_login(world.tech)
    html = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    values = {c.name: c.value for f in page_forms(html) for c in f.controls}
    assert values["test_endpoint"] == earlier.test_package.test_endpoint
    assert values["doc_version"] == earlier.test_package.doc_version
    assert values["test_accounts"] == "" and values["test_certificate_ref"] == ""  # the case's own
    case = world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a, name="戊公司"))
    html = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    values = {c.name: c.value for f in page_forms(html) for c in f.controls}
    earlier = OnboardingCase.objects.get(pk=earlier.pk)
    assert values["production_endpoint"] == earlier.production_config.production_endpoint
    accounts = [a["account_number"] for a in OnboardingCase.objects.get(pk=case.pk).company.accounts]
    assert values["production_accounts"].split() == accounts
