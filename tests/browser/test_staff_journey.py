"""An account manager opens a case in the browser, gets one input wrong, fixes it, and
takes the case to head-office approval."""

from __future__ import annotations

import pytest

from documents.samples import sample_png
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import provide_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_account_manager_creates_a_case_and_submits_it_for_approval(page, live_server, shot):
    from tests.factories import World

    world = World()
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_login(page, live_server.url, world.am_a.username)
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
    page.wait_for_selector("text=已提交受理,案件转客户经理办理")  # services.transition_done_message("submit")
    # Intake documents: one uploaded through the case page's checklist, the rest by the
    # builders; a colleague accepts them (nobody reviews their own upload).
    row = "tr[data-kind=business_licence]"
    page.set_input_files(
        f"{row} input[type=file]", files=[{"name": "营业执照.png", "mimeType": "image/png", "buffer": sample_png()}]
    )
    page.click(f"{row} form.upload button")
    page.wait_for_selector(f"{row} .status-uploaded")
    shot("staff-case-documents")
    provide_documents(case, State.BRANCH_INTAKE, uploader=world.am_a2, reviewer=world.supervisor)
    page.reload()
    page.click("button[value=submit_for_approval]")
    page.wait_for_selector(".state-head_office_approval")
    case.refresh_from_db()
    assert case.state == State.HEAD_OFFICE_APPROVAL
    shot("staff-case-head-office-approval")

    page.goto(f"{live_server.url}/cases/")
    page.wait_for_selector("table.cases")
    shot("staff-case-list")
