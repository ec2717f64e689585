"""Suspension and resumption of a live link, walked in Chromium by the real roles:

(a) the customer asks on the portal to suspend; the supervisor is told, finds it in 轮到我办理 and
    approves; the link shows 已暂停 on the portal and the staff pages, and the portal offers only
    what a suspended link takes (loss report, resumption, termination);
(b) the customer asks to resume, withdraws it in the 撤回 box, asks again; the supervisor
    approves and the link is 正常;
(c) the dormancy sweep proposes a suspension in the account manager's name: that person (also a
    supervisor) may not approve it and is told why; another supervisor decides."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone

from branches.roles import Role
from links import request_services
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import suspension
from onboarding import services as case_services
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()


def _staff(browser, base, username):
    page = _page(browser)
    staff_login(page, base, username)
    return page


def _customer(browser, base, username):
    page = _page(browser)
    page.goto(f"{base}/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/portal/**")
    return page


@pytest.fixture
def snap(tmp_path):
    """A full-page screenshot of a page at a key step (SHOTS_DIR keeps them to look at)."""
    folder = Path(os.environ.get("SHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def _status_on(page, base, link, *, portal: bool) -> str:
    page.goto(f"{base}/{'portal/' if portal else ''}links/{link.public_id}/")
    return page.inner_text("#link-facts")


def test_the_customer_suspends_on_the_portal_and_the_supervisor_approves(live_server, browser, snap):
    from tests.factories import World

    world = World()
    link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
    base = live_server.url

    customer = _customer(browser, base, world.customer_x.username)
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    customer.click("#change-links >> text=申请暂停")
    customer.fill("textarea[name=reason]", "年底系统升级,暂停一个月")
    customer.click("main button.primary")
    customer.wait_for_selector("text=申请已提交")
    request = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION)
    reference = request.case.reference
    page = customer.inner_text("main")
    assert "银行正在审核该申请" in page
    # With the bank, not a draft of the company's: nothing asks the customer to submit it.
    assert "当前办理方:银行" in page and "当前办理方:贵司" not in page
    assert "草稿" not in page and "完善申请资料" not in page
    customer.click("#withdraw summary")
    assert "撤回暂停申请" in customer.inner_text("#withdraw") and "Version" not in customer.inner_text("#withdraw")
    snap(customer, "suspension-1-portal-asked")

    # The supervisor: told on the bell, the request in 轮到我办理, approves it.
    sup = _staff(browser, base, world.supervisor.username)
    sup.goto(f"{base}/reminders/")
    assert reference in sup.inner_text("main") and "新的暂停直联服务" in sup.inner_text("main")
    sup.goto(f"{base}/")
    assert reference in sup.inner_text("main")
    sup.click(f"main >> text={reference}")
    sup.wait_for_selector("#actions")
    assert "年底系统升级" in sup.inner_text("main")
    snap(sup, "suspension-2-supervisor-case")
    sup.locator("#actions button", has_text="同意暂停").click()
    sup.wait_for_selector("text=直联服务已暂停")
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED
    assert "已暂停" in _status_on(sup, base, link, portal=False)
    history = sup.inner_text("#history")
    assert "服务状态变更" in history and "行内" in history
    snap(sup, "suspension-3-staff-link-suspended")
    assert sup.locator("#change-links >> text=申请恢复").count() == 1

    # The portal: 已暂停, and only what a suspended link takes.
    assert "已暂停" in _status_on(customer, base, link, portal=True)
    offered = customer.inner_text("#requests")
    for gone in ("申请操作员变更", "申请账户/功能变更", "申请暂停"):
        assert gone not in offered, gone
    for kept in ("申请恢复", "申请注销", "立即挂失"):
        assert kept in offered, kept
    assert "服务已暂停" in offered
    snap(customer, "suspension-4-portal-suspended")
    # Reached by address, a change page says why and offers no form.
    customer.goto(f"{base}/portal/links/{link.public_id}/operator-change/")
    assert "服务已暂停,请先申请恢复" in customer.inner_text("main")
    assert customer.locator("#operator-change-form").count() == 0


def _suspended_link(world) -> LiveLink:
    link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
    asked = request_services.suspension_open(link=link, user=world.customer_x, reason_code="customer", reason="升级")
    case_services.case_transition(
        case=OnboardingCase.objects.get(pk=asked.case_id), user=world.supervisor, name="suspension_approved"
    )
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED
    return link


def test_the_customer_withdraws_a_resumption_asks_again_and_the_supervisor_approves(live_server, browser, snap):
    from tests.factories import World

    world = World()
    link = _suspended_link(world)
    base = live_server.url

    customer = _customer(browser, base, world.customer_x.username)
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    customer.click("#change-links >> text=申请恢复")
    customer.fill("textarea[name=reason]", "升级完成")
    customer.click("main button.primary")
    customer.wait_for_selector("text=申请已提交")
    first = LinkRequest.objects.get(link=link, kind=suspension.RESUMPTION)
    # The 撤回 box: 撤回恢复申请.
    customer.click("#withdraw summary")
    assert "撤回恢复申请" in customer.inner_text("#withdraw")
    customer.fill("#withdraw textarea[name=reason]", "还需再等一周")
    snap(customer, "resumption-1-withdraw-box")
    customer.click("#withdraw button")
    customer.wait_for_selector("text=恢复申请已撤回")
    assert customer.locator("#withdraw").count() == 0
    first.refresh_from_db()
    assert not first.is_open
    assert OnboardingCase.objects.get(pk=first.case_id).state == suspension.RESUMPTION_WITHDRAWN
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED
    snap(customer, "resumption-2-withdrawn")

    # The supervisor's queue no longer has it.
    sup = _staff(browser, base, world.supervisor.username)
    sup.goto(f"{base}/")
    assert first.case.reference not in sup.inner_text("main")

    # Asked again, approved: 正常.
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    customer.click("#change-links >> text=申请恢复")
    customer.fill("textarea[name=reason]", "升级完成,恢复使用")
    customer.click("main button.primary")
    customer.wait_for_selector("text=申请已提交")
    second = LinkRequest.objects.get(link=link, kind=suspension.RESUMPTION, is_open=True)
    sup.goto(f"{base}/")
    assert second.case.reference in sup.inner_text("main")
    sup.goto(f"{base}/cases/{second.case.public_id}/")
    sup.locator("#actions button", has_text="同意恢复").click()
    sup.wait_for_selector("text=直联服务已恢复")
    assert "正常" in _status_on(customer, base, link, portal=True)
    assert "申请操作员变更" in customer.inner_text("#requests")
    history = customer.inner_text("#history")
    assert "恢复直联服务" in history and "恢复申请已撤回" in history
    snap(customer, "resumption-3-portal-active")


def test_the_dormancy_proposal_is_decided_by_someone_other_than_its_opener(live_server, browser, snap, settings):
    from tests.factories import World

    world = World()
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    # The link's account manager is also a supervisor: the sweep opens the request in their name.
    both = user("am_sup", Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR, branch=world.tier1)
    OnboardingCase.objects.filter(pk=case.pk).update(account_manager=both)
    settings.LINK_DORMANT_DAYS = 365
    LiveLink.objects.filter(pk=link.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=400))
    assert len(request_services.dormant_sweep().opened) == 1
    request = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION)
    assert request.opened_by == both and request.channel == "system"
    base = live_server.url
    staff_url = f"{base}/cases/{request.case.public_id}/"

    # The opener: no 同意暂停 button, and the page says why.
    opener = _staff(browser, base, both.username)
    opener.goto(staff_url)
    assert "一年无业务(久悬)" in opener.inner_text("main")
    assert opener.locator("#actions button", has_text="同意暂停").count() == 0
    assert "该申请由系统以您的名义发起,须由其他有权人员审批" in opener.inner_text("main")
    snap(opener, "dormant-1-opener-refused")

    # Another supervisor, told and finding it in 轮到我办理, approves.
    sup = _staff(browser, base, world.supervisor.username)
    sup.goto(f"{base}/")
    assert request.case.reference in sup.inner_text("main")
    sup.goto(staff_url)
    sup.locator("#actions button", has_text="同意暂停").click()
    sup.wait_for_selector("text=直联服务已暂停")
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED
    opened = link.events.get(name=LinkEvent.Name.REQUEST_OPENED, request=request)
    changed = link.events.get(name=LinkEvent.Name.STATUS_CHANGED, request=request)
    assert opened.channel == "system" and changed.channel == "bank" and changed.actor == world.supervisor
    sup.goto(f"{base}/links/{link.public_id}/")
    history = sup.inner_text("#history")
    assert "系统" in history and "行内" in history
    snap(sup, "dormant-2-suspended-history")
