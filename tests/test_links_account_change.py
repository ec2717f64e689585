"""Accounts or modules change (账户/功能变更) on a live link, from the users' side (issue 22).

- The customer adds an account with payment rights and the single-payment module on the
  portal: the new account reaches the approved company data only through a change request (a
  branch supervisor approves it; the account manager cannot pass the request before); the
  customer joint-tests the added module only, on the onboarding's matrix; tech accepts and
  puts it into production: the link's accounts, modules and data version move, with events.
- The review waits for the 变更申请书 signed and sealed: rendered where its upload is asked for,
  uploaded by the customer, accepted by the account manager.
- The account manager removes an account: no test, no change request; the old row is kept, ended.
- Refused: a second open change (launch control), payment rights without a payment module,
  no change at all, another company.
"""

from __future__ import annotations

import subprocess

import pytest

from casetypes import declaration
from casetypes.declaration import Feature
from documents.form_codes import form_code
from documents.models import DocumentKind, DocumentVersion
from documents.samples import sample_pdf
from links import changes, services
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import account_change as ac
from onboarding.models import ChangeRequest, ModuleTestResult, OnboardingCase
from onboarding.services import CaseError
from onboarding.states import State
from onboarding.terms import TEST_CASES
from tests.html_forms import browser_post_data, form_with, page_forms
from tests.links_request_helpers import messages_of, review_accept, upload


@pytest.fixture
def live(world):
    case = world.case(State.LIVE)
    return case, LiveLink.objects.get(onboarding_case=case)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def _case(request: LinkRequest) -> OnboardingCase:
    return OnboardingCase.objects.get(pk=request.case_id)


def _press(client, url: str, ending: str, **extra):
    page = client.get(url).content.decode()
    form = next(f for f in page_forms(page) if f.action.endswith(ending))
    data = browser_post_data(form)
    data.update({k: [v] for k, v in extra.items()})
    return client.post(form.action, data, follow=True)


def test_the_customer_adds_a_paying_account_and_the_payment_module_tested_alone(world, live, client, tmp_path):
    _, link = live
    old_version = link.company_version
    [account] = link.current_accounts()
    client.force_login(world.customer_x)
    assert (
        f"/portal/links/{link.public_id}/account-change/"
        in client.get(f"/portal/links/{link.public_id}/").content.decode()
    )
    url = f"/portal/links/{link.public_id}/account-change/"
    form = form_with(client.get(url).content.decode(), "accounts")
    data = browser_post_data(form)
    # The form comes filled with the link as it is: its modules ticked, its accounts one a line.
    assert data["modules"] == list(link.modules)
    assert data["accounts"][0].startswith(f"{account.account_number} | ") and data["accounts"][0].endswith("| 查询")
    data["modules"] = [*link.modules, "payment_single"]
    data["accounts"] = [
        data["accounts"][0].replace("| 查询", "| 查询 支付") + "\n6222000000009999 | 甲公司 | 甲支行 | 查询 支付"
    ]
    data["reason"] = ["开通付款"]
    response = client.post(url, data, follow=True)
    assert "账户/功能变更申请已提交" in _messages(response), _messages(response)
    request = LinkRequest.objects.get(link=link, kind=ac.CODE)
    assert "新增账户 6222000000009999;新增模块 指令支付(单笔)" in response.content.decode()
    case = _case(request)
    assert case.state == ac.REVIEW and case.modules == ["payment_single"]  # the added module only
    assert case.company_version == old_version and case.account_manager == world.am_a
    change = ChangeRequest.objects.get(case=case)
    assert change.status == ChangeRequest.Status.PENDING and change.filed_by == world.customer_x
    assert "6222000000009999" in [a["account_number"] for a in change.proposed["accounts"]]
    # The account manager cannot pass it while the company-data change waits.
    client.force_login(world.am_a)
    case_url = f"/cases/{case.public_id}/"
    page = client.get(case_url).content.decode()
    assert "企业资料变更申请待分行审核人员审批" in page
    response = _press(client, case_url, "/transition/account_change_to_testing/")
    assert "企业资料变更申请待分行审核人员审批" in _messages(response)
    # A branch supervisor approves the company-data change: a new version, the request case on it.
    client.force_login(world.supervisor)
    response = _press(client, case_url, "/decide/", decision="approve")
    change.refresh_from_db()
    assert change.status == ChangeRequest.Status.APPROVED
    case = _case(request)
    assert case.company_version.number == old_version.number + 1
    assert link.company_version_id == old_version.pk  # the link moves only when the change is done
    # Nor before the 变更申请书 signed and sealed by the company is on file and accepted.
    client.force_login(world.am_a)
    response = _press(client, case_url, "/transition/account_change_to_testing/")
    assert "签字盖章的变更申请书尚未上传" in _messages(response)
    assert _case(request).state == ac.REVIEW
    # The customer renders the form on the portal where the upload is asked for (kept as a
    # generated version, with its form code), signs, seals and uploads the scan.
    client.force_login(world.customer_x)
    portal_url = f"/portal/cases/{case.public_id}/"
    _press(client, portal_url, f"/generate/{DocumentKind.LINK_CHANGE_FORM}/")
    generated = DocumentVersion.objects.get(
        document__case=case, document__kind=DocumentKind.LINK_CHANGE_FORM, document__generated=True
    )
    pdf = client.get(f"/documents/v/{generated.public_id}/download/")
    (tmp_path / "generated.pdf").write_bytes(b"".join(pdf.streaming_content) if pdf.streaming else pdf.content)
    text = subprocess.run(["pdftotext", str(tmp_path / "generated.pdf"), "-"], capture_output=True, text=True).stdout
    code = form_code(case, DocumentKind.LINK_CHANGE_FORM)
    assert "银企直联业务变更申请书" in text and "6222000000009999" in text and code in text
    response = upload(client, portal_url, DocumentKind.LINK_CHANGE_FORM, sample_pdf("signed"), name=f"{code}.pdf")
    assert any("已上传" in m for m in messages_of(response)), messages_of(response)
    client.force_login(world.am_a)
    response = _press(client, case_url, "/transition/account_change_to_testing/")
    assert "变更申请书已上传,待银行审核通过" in _messages(response)
    review_accept(client, case_url)
    response = _press(client, case_url, "/transition/account_change_to_testing/")
    assert "等待客户进行新增模块联调测试" in _messages(response)
    assert _case(request).state == ac.TESTING
    assert ac.TESTING in declaration.states_with(Feature.JOINT_TESTS)
    # The customer records the joint test of that module only, on the portal's matrix.
    client.force_login(world.customer_x)
    page = client.get(portal_url).content.decode()
    form = next(f for f in page_forms(page) if f.action.endswith("/test-result/"))
    data = browser_post_data(form)
    keys = [k[len("result-") :] for k in data if k.startswith("result-")]
    assert sorted(keys) == sorted(f"payment_single:{code}" for code, _ in TEST_CASES["payment_single"]) or sorted(
        keys
    ) == sorted(f"payment_single-{code}" for code, _ in TEST_CASES["payment_single"])
    for key in keys:
        data[f"result-{key}"], data[f"evidence-{key}"] = ["pass"], [f"TX-{key}"]
    response = client.post(form.action, data, follow=True)
    assert "已登记 3 个测试用例的结果" in _messages(response), _messages(response)
    assert set(ModuleTestResult.objects.filter(case=case).values_list("module", flat=True)) == {"payment_single"}
    # Tech accepts and puts it into production.
    client.force_login(world.tech)
    response = _press(client, case_url, "/transition/account_change_tested/")
    assert "联调测试已验收" in _messages(response)
    response = _press(client, case_url, "/account-change/complete/")
    assert "账户/功能变更已生效" in _messages(response)
    link.refresh_from_db()
    assert "payment_single" in link.modules and link.company_version_id == case.company_version_id
    current = {a.account_number: a for a in link.current_accounts()}
    assert set(current) == {account.account_number, "6222000000009999"}
    assert all(a.can_pay and a.can_query for a in current.values())
    account.refresh_from_db()
    assert account.ended_at is not None  # its rights changed: the old row ended, kept
    names = list(link.events.filter(request=request).values_list("name", flat=True))
    assert names == [
        "request_opened",
        LinkEvent.Name.COMPANY_VERSION_CHANGED,
        LinkEvent.Name.ACCOUNTS_CHANGED,
        LinkEvent.Name.MODULES_CHANGED,
        "request_closed",
    ]
    request.refresh_from_db()
    assert not request.is_open and _case(request).state == ac.DONE
    # The change form prints the accounts as they became, with their rights.
    pdf = client.get(f"/links/requests/{case.public_id}/change-form.pdf").content
    (tmp_path / "form.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "form.pdf"), "-"], capture_output=True, text=True).stdout
    assert "■ 账户/功能变更" in text and "6222000000009999" in text and "指令支付(单笔)" in text


def test_the_account_manager_removes_an_account_without_a_test(world, live, client):
    _, link = live
    [kept] = link.current_accounts()
    services.link_accounts_replace(
        link=link,
        accounts=[
            {
                "account_number": kept.account_number,
                "account_name": kept.account_name,
                "opening_branch": kept.opening_branch,
            },
            {"account_number": "6222000000001111", "account_name": "甲公司", "opening_branch": ""},
        ],
        event=services.link_event(link=link, name=LinkEvent.Name.ACCOUNTS_CHANGED, actor=world.am_a),
    )
    client.force_login(world.am_a)
    url = f"/links/{link.public_id}/account-change/"
    form = form_with(client.get(url).content.decode(), "accounts")
    data = browser_post_data(form)
    data["accounts"] = ["\n".join(line for line in data["accounts"][0].splitlines() if "6222000000001111" not in line)]
    response = client.post(url, data, follow=True)
    assert "账户/功能变更申请已提交" in _messages(response), _messages(response)
    request = LinkRequest.objects.get(link=link, kind=ac.CODE)
    case = _case(request)
    assert not ChangeRequest.objects.filter(case=case).exists() and case.modules == []
    # The account manager uploads the scan the company signed and sealed; not theirs to accept:
    # the branch supervisor accepts it.
    upload(client, f"/cases/{case.public_id}/", DocumentKind.LINK_CHANGE_FORM, sample_pdf("signed"))
    assert "/review/" not in client.get(f"/cases/{case.public_id}/").content.decode()
    client.force_login(world.supervisor)
    review_accept(client, f"/cases/{case.public_id}/")
    client.force_login(world.am_a)
    response = _press(client, f"/cases/{case.public_id}/", "/transition/account_change_approved/")
    assert "等待总行配置生效" in _messages(response)
    changes.account_change_complete(request=request, user=world.tech)
    assert [a.account_number for a in link.current_accounts()] == [kept.account_number]
    assert link.accounts.get(account_number="6222000000001111").ended_at is not None


def test_refused_duplicates_payment_without_module_no_change_and_another_company(world, live, client):
    _, link = live
    [account] = link.current_accounts()
    row = {"account_number": account.account_number, "account_name": "", "opening_branch": "", "can_query": True}
    with pytest.raises(CaseError, match="开通支付权限须同时开通支付类功能模块"):
        changes.account_change_open(
            link=link, user=world.customer_x, accounts=[{**row, "can_pay": True}], modules=link.modules
        )
    with pytest.raises(CaseError, match="变更内容与现有设置相同"):
        changes.account_change_open(
            link=link,
            user=world.customer_x,
            accounts=[{**row, "account_name": account.account_name, "opening_branch": account.opening_branch}],
            modules=link.modules,
        )
    assert not LinkRequest.objects.filter(link=link).exists()
    changes.account_change_open(link=link, user=world.customer_x, accounts=[row], modules=[*link.modules, "e_receipt"])
    client.force_login(world.customer_x)
    url = f"/portal/links/{link.public_id}/account-change/"
    page = client.get(url).content.decode()
    assert "已有一笔办理中的“账户/功能变更”申请" in page and 'id="account-change-form"' not in page
    response = client.post(url, {"modules": ["payroll"], "accounts": "1 | a | b | 查询"}, follow=True)
    assert "已有一笔办理中的“账户/功能变更”申请" in _messages(response)
    assert LinkRequest.objects.filter(link=link).count() == 1
    client.force_login(world.customer_y)
    assert client.get(url).status_code == 404
    LinkRequest.objects.filter(link=link).update(is_open=False)
    services.link_status_set(link=link, status=LinkStatus.CLOSED, actor=world.supervisor, reason="注销")
    link.refresh_from_db()
    with pytest.raises(services.LaunchRefused, match="已注销"):
        changes.account_change_open(link=link, user=world.customer_x, accounts=[row], modules=["payroll"])


def test_the_type_is_declared_with_five_working_days(world):
    declared = declaration.case_type(ac.CODE)
    assert [s.holder for s in declared.stages] == ["account_manager", "customer", "tech_reviewer"]
    assert sum(s.sla_days for s in declared.stages) == 5


def test_the_change_pages_read_in_english_and_chinese_only_in_chinese(world, live, client):
    from django.conf import settings

    from tests.test_i18n import chinese_labels, english_halves

    _, link = live
    [account] = link.current_accounts()
    row = {"account_number": account.account_number, "can_query": True, "can_pay": False}
    new = {"account_number": "6222000000007777", "account_name": "甲公司", "can_query": True}
    accounts = changes.account_change_open(
        link=link, user=world.customer_x, accounts=[row, new], modules=[*link.modules, "payment_batch"]
    )
    operator = link.current_operators().first()
    operators = changes.operator_change_open(
        link=link, user=world.am_a, action="role", operator_id=operator.operator_id, role="authorise"
    )
    pages = [
        (world.am_a, f"/links/{link.public_id}/operator-change/"),
        (world.am_a, f"/links/{link.public_id}/account-change/"),
        (world.am_a, f"/cases/{accounts.case.public_id}/"),
        (world.am_a, f"/cases/{operators.case.public_id}/"),
        (world.customer_x, f"/portal/cases/{accounts.case.public_id}/"),
        (world.customer_x, f"/portal/cases/{operators.case.public_id}/"),
    ]
    # The forms themselves (no open request of their kind on a second link would show them; the
    # link's own pages list both requests and the buttons).
    pages += [(world.customer_x, f"/portal/links/{link.public_id}/"), (world.am_a, f"/links/{link.public_id}/")]
    for who, url in pages:
        client.force_login(who)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
        chinese = client.get(url).content.decode()
        assert english_halves(chinese) == [], url
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        english = client.get(url).content.decode()
        assert chinese_labels(english) == [], (url, chinese_labels(english))
    assert "Accounts/modules change" in english


def test_the_forms_read_in_english(world, live, client):
    from django.conf import settings

    from tests.test_i18n import chinese_labels

    _, link = live
    client.force_login(world.am_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for url in (f"/links/{link.public_id}/operator-change/", f"/links/{link.public_id}/account-change/"):
        english = client.get(url).content.decode()
        assert chinese_labels(english) == [], (url, chinese_labels(english))
    assert "| query" in english and "One account a line" in english
