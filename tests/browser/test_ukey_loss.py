"""A customer reports a lost UKey on the portal; the counter replaces it with maker and checker.

The key is blocked the moment the customer clicks, before anyone at the bank has looked; the
maker enters the new K宝 on the request's case page; the checker (another person) confirms it;
the customer's live-link page then shows the new key in use."""

from __future__ import annotations

import pytest

from counter.models import UKey
from links.models import LinkRequest, LiveLink
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_customer_reports_a_loss_and_the_counter_replaces_the_key(browser, live_server, shot):
    from tests.factories import World

    world = World()
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    lost = link.current_operators().get(name="操作员甲").ukey
    base = live_server.url

    # The customer, on the portal: the live link, its UKeys, the loss form.
    customer = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    customer.goto(f"{base}/login/")
    customer.fill("input[name=login]", "customer_x")
    customer.fill("input[name=password]", PASSWORD)
    customer.click("button.primary")
    customer.wait_for_url(f"{base}/portal/")
    customer.click("nav >> text=直联服务")
    customer.click(f"text={link.reference}")
    customer.select_option("#ukey-loss-form select[name=ukey]", str(lost.pk))
    customer.fill("#ukey-loss-form input[name=reason]", "K宝随公文包遗失")
    customer.click("#ukey-loss-form button")
    customer.wait_for_selector("text=挂失已生效")
    # Blocked already: nobody at the bank has done anything yet.
    lost.refresh_from_db()
    assert lost.status == UKey.Status.LOST
    assert "已挂失" in customer.inner_text("#link-operators")
    request = LinkRequest.objects.get(link=link)
    assert request.case.reference in customer.inner_text("#requests")
    shot("links-portal-loss-reported")

    # The counter maker finds the request on the live link and enters the new key.
    maker = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    staff_login(maker, base, world.maker.username)
    maker.goto(f"{base}/links/{link.public_id}/")
    maker.click(f"#requests >> text={request.case.reference}")
    maker.wait_for_selector("#link-request")
    maker.fill("#link-request input[name=serial]", "KB-NEW-0001")
    maker.click('#link-request button:has-text("录入补办的新UKey")')
    maker.wait_for_selector("text=补办已录入,等待柜面复核")
    assert "复核通过,新UKey生效" not in maker.content()  # the maker checks nothing
    shot("links-counter-replacement-made")

    # The checker confirms it.
    checker = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    staff_login(checker, base, world.checker.username)
    checker.goto(f"{base}/cases/{request.case.public_id}/")
    checker.click('#link-request button:has-text("复核通过,新UKey生效")')
    checker.wait_for_selector("text=新UKey已生效,挂失补办办结")
    lost.refresh_from_db()
    assert lost.status == UKey.Status.REPLACED

    # The customer sees the new key in use and the request done.
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    operators = customer.inner_text("#link-operators")
    assert "KB-NEW-0001" in operators and "已补办换新" not in operators.split("KB-NEW-0001")[1].split("\n")[0]
    assert "已补办" in customer.inner_text("#requests")
    shot("links-portal-replaced")
