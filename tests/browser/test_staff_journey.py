"""An account manager opens a case in the browser, gets one input wrong, fixes it, and
takes the case to head-office approval."""

from __future__ import annotations

import pytest

from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")


def test_account_manager_creates_a_case_and_submits_it_for_approval(page, live_server, shot):
    from tests.factories import World

    world = World()
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, live_server, world.am_a.username)
    page.wait_for_selector("text=我的待办")
    shot("staff-home")

    page.click("text=新建案件")
    page.fill("#id_name", "杭州西湖茶业有限公司")
    page.fill("#id_uscc", "91350100M000100Y44")  # last character wrong
    page.fill("#id_legal_rep_name", "王五")
    page.fill("#id_legal_rep_id_number", "11010519491231002X")
    page.fill("#id_handler_name", "王五")
    page.fill("#id_handler_id_number", "11010519491231002X")
    page.fill("#id_contact_email", "cw@xihu.example")
    page.fill("#id_acc-0-account_number", "6222000011112222")
    page.fill("#id_acc-0-account_name", "杭州西湖茶业有限公司")
    page.check("input[name=modules][value=account_query]")
    page.check("input[name=modules][value=reconciliation]")
    page.fill("#id_fee_amount", "3000")
    page.select_option("#id_risk_level", "low")
    page.click("button[type=submit]")
    page.wait_for_selector(".error")
    assert "校验位不正确" in page.inner_text(".has-error")
    assert OnboardingCase.objects.count() == 0
    shot("staff-new-case-error")

    page.fill("#id_uscc", "91350100M000100Y43")
    # Modules and accounts survive the round trip; the form keeps what was typed.
    page.click("button[type=submit]")
    page.wait_for_selector(".tracker")
    case = OnboardingCase.objects.get(enterprise__uscc="91350100M000100Y43")
    assert case.state == State.DRAFT

    page.click("button[value=submit]")
    page.wait_for_selector("text=已办理")
    page.click("button[value=submit_for_approval]")
    page.wait_for_selector(".state-head_office_approval")
    case.refresh_from_db()
    assert case.state == State.HEAD_OFFICE_APPROVAL
    shot("staff-case-head-office-approval")

    page.goto(f"{live_server.url}/cases/")
    page.wait_for_selector("table.cases")
    shot("staff-case-list")
