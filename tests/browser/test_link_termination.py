"""A live link's termination walked in Chromium by the real roles, from the portal to closed:
the customer asks and uploads the letter bearing the company seal; the account manager accepts
it and submits; the supervisor approves; the counter maker enters the revocation of every UKey
and the checker confirms it; tech disables the link; the account manager closes it; the
customer sees it closed."""

from __future__ import annotations

import pytest

from counter.models import UKey
from documents.samples import sample_pdf
from links.models import LinkRequest, LinkStatus, LiveLink
from links.requests import termination
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _staff(browser, base, username):
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    staff_login(page, base, username)
    return page


def _click_transition(page, url, label):
    page.goto(url)
    page.locator("#actions button", has_text=label).click()
    page.wait_for_load_state()


def test_termination_from_the_portal_to_closed(live_server, browser, tmp_path):
    from tests.factories import World

    world = World()
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    base = live_server.url

    # The customer logs in to the portal and asks for the termination.
    customer = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    customer.goto(f"{base}/login/")
    customer.fill("input[name=login]", world.customer_x.username)
    customer.fill("input[name=password]", PASSWORD)
    customer.click("button.primary")
    customer.wait_for_url(f"{base}/portal/**")
    customer.goto(f"{base}/portal/links/{link.public_id}/requests/termination/")
    customer.fill("textarea[name=reason]", "公司业务调整,不再使用银企直联")
    customer.click("button.primary")
    customer.wait_for_selector("text=申请已提交")
    req = LinkRequest.objects.get(link=link, kind=termination.CODE)
    assert "注销中" in customer.inner_text("#link-termination")
    letter = tmp_path / "注销申请函.pdf"
    letter.write_bytes(sample_pdf("sealed letter"))
    row = customer.locator('tr[data-kind="termination_letter"]')
    row.locator("input[type=file]").set_input_files(str(letter))
    row.locator("button", has_text="上传").click()
    customer.wait_for_selector("text=已上传")
    customer.screenshot(path=str(tmp_path / "portal-termination.png"))

    staff_url = f"{base}/cases/{req.case.public_id}/"
    am = _staff(browser, base, world.am_a.username)
    am.goto(staff_url)
    am.locator('tr[data-kind="termination_letter"] button', has_text="审核通过").click()
    am.wait_for_load_state()
    _click_transition(am, staff_url, "提交注销审批")
    assert "已提交注销审批" in am.inner_text("main")

    sup = _staff(browser, base, world.supervisor.username)
    _click_transition(sup, staff_url, "批准注销")
    assert "注销已批准" in sup.inner_text("main")

    maker = _staff(browser, base, world.maker.username)
    maker.goto(staff_url)
    assert maker.locator("table.ukeys-in-use tr").count() == 3  # header and two keys
    _click_transition(maker, staff_url, "提交UKey注销复核")

    checker = _staff(browser, base, world.checker.username)
    _click_transition(checker, staff_url, "复核通过,注销全部UKey")
    assert "全部UKey已注销" in checker.inner_text("main")
    assert UKey.objects.filter(case=case).exclude(status=UKey.Status.REVOKED).count() == 0

    tech = _staff(browser, base, world.tech.username)
    _click_transition(tech, staff_url, "已停用直联")

    _click_transition(am, staff_url, "确认注销办结")
    assert "直联服务已注销" in am.inner_text("main")
    link.refresh_from_db()
    assert link.status == LinkStatus.CLOSED and link.retention_until is not None

    customer.goto(f"{base}/portal/cases/{req.case.public_id}/")
    assert "已注销" in customer.inner_text("main")
    customer.screenshot(path=str(tmp_path / "portal-closed.png"))
