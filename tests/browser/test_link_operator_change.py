"""An operator change (操作员变更) walked in Chromium by the real roles, from the portal to done:
the customer asks on the portal to add an authoriser (no 撤回 box offered on its case page: the
type declares no withdrawal) and uploads the signed and sealed 变更申请书; the account manager is
told on the bell, finds it in 轮到我办理, cannot approve before accepting the form, accepts it and
approves; the counter maker enters the new K宝 and may not confirm it; the checker confirms;
the customer sees the new operator on the live link."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from counter.models import UKey
from documents.form_codes import form_code
from documents.models import DocumentKind
from documents.samples import sample_pdf
from links.models import LinkRequest, LiveLink
from links.requests import operator_change as oc
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD, resident_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FORM_ROW = f"#doc-{DocumentKind.LINK_CHANGE_FORM}"


def _page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()


def _staff(browser, base, username):
    page = _page(browser)
    staff_login(page, base, username)
    return page


def test_operator_change_from_the_portal_through_the_counter_to_done(live_server, browser, tmp_path):
    from tests.factories import World

    world = World()
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    base = live_server.url

    # The customer, on the portal's live-link page, asks to add an authoriser.
    customer = _page(browser)
    customer.goto(f"{base}/login/")
    customer.fill("input[name=login]", world.customer_x.username)
    customer.fill("input[name=password]", PASSWORD)
    customer.click("button.primary")
    customer.wait_for_url(f"{base}/portal/**")
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    customer.click("text=申请操作员变更")
    customer.check("#operator-change-form input[name=action][value=add]")
    customer.fill("#operator-change-form input[name=name]", "操作员丙")
    customer.fill("#operator-change-form input[name=id_number]", resident_id(78))
    customer.select_option("#operator-change-form select[name=role]", "authorise")
    customer.fill("#operator-change-form [name=reason]", "新增授权人")
    customer.click("#operator-change-form button.primary")
    customer.wait_for_selector("text=操作员变更申请已提交")
    request = LinkRequest.objects.get(link=link, kind=oc.CODE)
    reference = request.case.reference
    # Its case page on the portal: the change, and no withdraw box (the type has no withdrawal).
    customer.goto(f"{base}/portal/cases/{request.case.public_id}/")
    assert "新增操作员 操作员丙" in customer.inner_text("main")
    assert customer.locator("#withdraw").count() == 0
    # The 变更申请书, signed and sealed: uploaded where it is asked for, on the portal case page.
    code = form_code(request.case, DocumentKind.LINK_CHANGE_FORM)
    scan = tmp_path / f"{code}.pdf"
    scan.write_bytes(sample_pdf("变更申请书 签字盖章"))
    customer.set_input_files(f"{FORM_ROW} input[type=file]", str(scan))
    customer.click(f"{FORM_ROW} form.upload button")
    customer.wait_for_selector(f"{FORM_ROW} .status-uploaded")

    # The account manager: the notice on the bell, the request in 轮到我办理, then approves it.
    am = _staff(browser, base, world.am_a.username)
    am.goto(f"{base}/")
    assert reference in am.inner_text("main")
    am.goto(f"{base}/reminders/")
    assert reference in am.inner_text("main") and "新的操作员变更" in am.inner_text("main")
    staff_url = f"{base}/cases/{request.case.public_id}/"
    am.goto(staff_url)
    # Not before the form is accepted: the button is held and the reason shown; they accept it.
    assert am.locator("#actions button", has_text="审核通过,转柜面办理").is_disabled()
    assert "变更申请书已上传,待银行审核通过" in am.inner_text("main")
    am.click(f"{FORM_ROW} button[value=accept]")
    am.wait_for_selector(f"{FORM_ROW} .status-accepted")
    am.locator("#actions button", has_text="审核通过,转柜面办理").click()
    am.wait_for_selector("text=已审核通过,等待柜面办理")
    assert OnboardingCase.objects.get(pk=request.case_id).state == oc.COUNTER

    # The counter maker enters the new K宝; the maker's page offers no confirmation.
    maker = _staff(browser, base, world.maker.username)
    maker.goto(f"{base}/")
    assert reference in maker.inner_text("main")
    maker.goto(staff_url)
    maker.fill("#operator-change-make input[name=serial]", "KB-ADD-0078")
    expires = timezone.localdate() + dt.timedelta(days=600)
    maker.fill("#operator-change-make input[name=expires_on]", expires.isoformat())
    maker.click("#operator-change-make button.primary")
    maker.wait_for_selector("text=等待柜面复核")
    assert maker.locator("#operator-change-confirm").count() == 0
    assert not UKey.objects.filter(serial="KB-ADD-0078").exists()  # nothing issued until checked

    # The checker confirms: the key is issued with the date the maker typed, the request done.
    checker = _staff(browser, base, world.checker.username)
    checker.goto(staff_url)
    assert "KB-ADD-0078" in checker.inner_text("#change-request")
    # The next-step panel points to the change panel's form: no greyed buttons, no shortfall.
    assert checker.locator("#next-step button").count() == 0
    assert checker.locator("#next-step .missing").count() == 0
    checker.screenshot(path=str(tmp_path / "operator-change-check.png"), full_page=True)
    checker.click("#next-step a.button[href='#change-request']")
    assert checker.evaluate("location.hash") == "#change-request"
    assert checker.locator("text=复核通过,变更生效").count() == 1
    checker.click("#operator-change-confirm button")
    checker.wait_for_selector("text=操作员变更已生效")
    key = UKey.objects.get(serial="KB-ADD-0078")
    assert key.expires_on == expires and key.operator.name == "操作员丙"
    request.refresh_from_db()
    assert not request.is_open and OnboardingCase.objects.get(pk=request.case_id).state == oc.DONE

    # The customer sees the new operator with the key on the live link.
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    operators = customer.inner_text("#link-operators")
    assert "操作员丙" in operators and "KB-ADD-0078" in operators
