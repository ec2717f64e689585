"""An accounts/modules change (账户/功能变更) walked in Chromium by the real roles, from the portal
to done: the customer, on the portal's live-link page, asks to add an account the approved company
data lacks and the single-payment module; a second accounts change on the link is refused while
this one is open, with the reason; the customer downloads the 变更申请书 where its upload is asked
for and uploads the signed and sealed scan; the account manager is told (bell, 轮到我办理), is
refused while the company-data change waits, accepts the form; the branch supervisor is told and
approves the company-data change; the account manager passes the review; the customer records the
joint test of the payment module only; tech accepts it and puts the change into production; the
customer sees the new account with its rights and the module, and the staff link page shows the
account's new version with the old row ended, not rewritten."""

from __future__ import annotations

import subprocess

import pytest

from documents.form_codes import form_code
from documents.models import DocumentKind
from documents.samples import sample_pdf
from links.models import LinkAccount, LinkRequest, LiveLink
from links.requests import account_change as ac
from onboarding.models import ChangeRequest, ModuleTestResult, OnboardingCase
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_ACCOUNT = "6222000000009999"
FORM_ROW = f"#doc-{DocumentKind.LINK_CHANGE_FORM}"


def _page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()


def _staff(browser, base, username):
    page = _page(browser)
    staff_login(page, base, username)
    return page


def _state(request: LinkRequest) -> str:
    return OnboardingCase.objects.get(pk=request.case_id).state


def test_accounts_change_from_the_portal_through_review_test_and_setup_to_done(live_server, browser, tmp_path):
    from tests.factories import World

    world = World()
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    [old] = link.current_accounts()
    assert not old.can_pay and "payment_single" not in link.modules
    base = live_server.url

    def shot(page, name):
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    # The customer, on the portal's live-link page, asks for the change: the form shows the link
    # as it is; they tick the payment module, give the account payment rights, add an account.
    customer = _page(browser)
    customer.goto(f"{base}/login/")
    customer.fill("input[name=login]", world.customer_x.username)
    customer.fill("input[name=password]", PASSWORD)
    customer.click("button.primary")
    customer.wait_for_url(f"{base}/portal/**")
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    customer.click("text=申请账户/功能变更")
    form = "#account-change-form"
    accounts = customer.input_value(f"{form} textarea[name=accounts]")
    assert accounts.startswith(f"{old.account_number} | ") and accounts.endswith("| 查询")
    customer.check(f"{form} input[name=modules][value=payment_single]")
    customer.fill(
        f"{form} textarea[name=accounts]",
        accounts.replace("| 查询", "| 查询 支付") + f"\n{NEW_ACCOUNT} | 甲公司 | 甲支行 | 查询 支付",
    )
    customer.fill(f"{form} [name=reason]", "开通付款")
    shot(customer, "account-change-01-portal-form")
    customer.click(f"{form} button.primary")
    customer.wait_for_selector("text=账户/功能变更申请已提交")
    request = LinkRequest.objects.get(link=link, kind=ac.CODE)
    reference = request.case.reference
    portal_case = f"{base}/portal/cases/{request.case.public_id}/"
    assert customer.url == portal_case
    assert f"新增账户 {NEW_ACCOUNT}" in customer.inner_text("#change-request")
    # A first stage of a request is not a draft: no draft note, the documents list is shown.
    assert "草稿" not in customer.inner_text("main")
    change = ChangeRequest.objects.get(case_id=request.case_id)
    assert change.status == ChangeRequest.Status.PENDING

    # Refused: a second accounts change on the same link while this one is open, with the reason.
    customer.goto(f"{base}/portal/links/{link.public_id}/account-change/")
    assert "已有一笔办理中的“账户/功能变更”申请" in customer.inner_text("main")
    assert customer.locator("#account-change-form").count() == 0
    shot(customer, "account-change-02-second-refused")
    assert LinkRequest.objects.filter(link=link, kind=ac.CODE).count() == 1

    # The 变更申请书: downloaded where its upload is asked for, signed, sealed and uploaded.
    customer.goto(portal_case)
    with customer.expect_download() as download:
        customer.click("text=下载《变更申请书》,签字盖章后上传")
    pdf = tmp_path / "change-form.pdf"
    download.value.save_as(pdf)
    code = form_code(request.case, DocumentKind.LINK_CHANGE_FORM)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "银企直联业务变更申请书" in text and NEW_ACCOUNT in text and code in text and "申请单位(公章)" in text
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "change-form")])
    scan = tmp_path / f"{code}.pdf"
    scan.write_bytes(sample_pdf("变更申请书 签字盖章"))
    customer.goto(portal_case)
    customer.set_input_files(f"{FORM_ROW} input[type=file]", str(scan))
    customer.click(f"{FORM_ROW} form.upload button")
    customer.wait_for_selector(f"{FORM_ROW} .status-uploaded")
    shot(customer, "account-change-03-portal-form-uploaded")
    # Nothing more is the customer's until the bank has reviewed (no draft to submit: not a draft).
    assert "目前无需贵司办理" in customer.inner_text("main") and "完善申请资料" not in customer.inner_text("main")

    # The account manager: the notice on the bell, the request in 轮到我办理.
    am = _staff(browser, base, world.am_a.username)
    am.goto(f"{base}/")
    assert reference in am.inner_text("main")
    am.goto(f"{base}/reminders/")
    assert reference in am.inner_text("main") and "新的账户/功能变更" in am.inner_text("main")
    staff_case = f"{base}/cases/{request.case.public_id}/"
    am.goto(staff_case)
    am.click(f"{FORM_ROW} button[value=accept]")
    am.wait_for_selector(f"{FORM_ROW} .status-accepted")
    # The review cannot pass while the company-data change waits: the button is held, the reason shown.
    assert am.locator("#actions button", has_text="审核通过,进入联调测试").is_disabled()
    shot(am, "account-change-04-review-refused")
    assert "企业资料变更申请待分行审核人员审批" in am.inner_text("main")
    assert _state(request) == ac.REVIEW

    # The branch supervisor is told, sees the change request and approves it.
    sup = _staff(browser, base, world.supervisor.username)
    sup.goto(f"{base}/")
    assert reference in sup.inner_text("main")
    sup.goto(staff_case)
    assert NEW_ACCOUNT in sup.inner_text("#company-changes")
    sup.click("#company-changes button[value=approve]")
    sup.wait_for_selector("#company-changes .status-approved")
    shot(sup, "account-change-05-supervisor-approved")
    change.refresh_from_db()
    assert change.status == ChangeRequest.Status.APPROVED and change.decided_by == world.supervisor

    # The account manager passes the review: the customer's joint test of the added module next.
    am.goto(staff_case)
    am.locator("#actions button", has_text="审核通过,进入联调测试").click()
    am.wait_for_selector("text=已审核通过,等待客户进行新增模块联调测试")
    assert _state(request) == ac.TESTING

    # The customer records the joint test of the payment module only, on the portal's matrix.
    customer.goto(portal_case)
    rows = customer.locator("#testing tr[data-test]")
    keys = [rows.nth(i).get_attribute("data-test") for i in range(rows.count())]
    assert keys and all(k.startswith("payment_single") for k in keys)
    for key in keys:
        customer.select_option(f"#testing select[name='result-{key}']", "pass")
        customer.fill(f"#testing input[name='evidence-{key}']", f"TX-{key}")
    shot(customer, "account-change-06-joint-test")
    customer.click("#testing button.primary")
    customer.wait_for_selector(f"text=已登记 {len(keys)} 个测试用例的结果")
    assert set(ModuleTestResult.objects.filter(case_id=request.case_id).values_list("module", flat=True)) == {
        "payment_single"
    }

    # Tech is told, accepts the test and puts the change into production.
    tech = _staff(browser, base, world.tech.username)
    tech.goto(f"{base}/")
    assert reference in tech.inner_text("main")
    tech.goto(staff_case)
    tech.locator("#actions button", has_text="联调测试验收通过").click()
    tech.wait_for_selector("text=联调测试已验收,等待总行配置生效")
    tech.click("#account-change-complete button")
    tech.wait_for_selector("text=账户/功能变更已生效")
    request.refresh_from_db()
    assert not request.is_open and _state(request) == ac.DONE

    # The customer sees the new account with its rights and the payment module on the live link.
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    facts, listed = customer.inner_text("#link-facts"), customer.inner_text("#link-accounts")
    assert "指令支付(单笔)" in facts and NEW_ACCOUNT in listed
    shot(customer, "account-change-07-portal-link-done")
    new_row = LinkAccount.objects.get(link=link, account_number=NEW_ACCOUNT)
    assert new_row.can_query and new_row.can_pay and new_row.ended_at is None

    # The staff link page: the account's new version, the old row ended and kept as it was.
    am.goto(f"{base}/links/{link.public_id}/")
    old_rows = am.locator("#link-accounts tbody tr", has_text=old.account_number)
    assert old_rows.count() == 2
    assert old_rows.nth(0).get_attribute("class") == "ended" and "至今" in old_rows.nth(1).inner_text()
    shot(am, "account-change-08-staff-link-versions")
    old.refresh_from_db()
    assert old.ended_at is not None and not old.can_pay  # ended, not rewritten
    assert link.current_accounts().get(account_number=old.account_number).can_pay
