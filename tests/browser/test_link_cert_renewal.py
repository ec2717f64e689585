"""A certificate renewal (证书更新) walked in Chromium by the real roles.

Before expiry: the beat task of the renewal sweep opens the renewal 90 days before the link's
certificate runs out and reminds the customer; the customer sees the reminder on the portal, finds
the renewal on the link page and submits the new certificate (its expiry survives the round
trip); head-office tech is told, finds it in 轮到我办理 and confirms; both link pages show the new
certificate and the link's history records the change.

After expiry: self-service is over; the counter maker moves it to the counter and enters the new
certificate; the maker's own page offers no confirmation and a forged one is refused with the
reason; a different checker confirms; the link shows the new certificate."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone

from branches.roles import Role
from links import request_tasks
from links.models import LinkEvent, LinkRequest, LiveLink
from links.requests import cert_renewal
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.browser.conftest import SCREENSHOTS
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
    """A full-page screenshot of the page given (docs/screenshots/ with SAVE_SCREENSHOTS=1)."""
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def _expiring_link(world, days: int) -> LiveLink:
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    LiveLink.objects.filter(pk=link.pk).update(
        certificate_serial="FEP-OLD-1", certificate_expires_on=timezone.localdate() + dt.timedelta(days=days)
    )
    link.refresh_from_db()
    return link


def test_the_sweep_opens_the_renewal_the_customer_renews_and_tech_confirms(live_server, browser, snap):
    from tests.factories import World

    world = World()
    link = _expiring_link(world, 90)
    base = live_server.url

    # Beat runs the sweep: one renewal, 90 days before expiry.
    assert request_tasks.renewal_sweep.apply().get() == {"opened": 1, "reminded": 1}
    request = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    reference = request.case.reference
    expiry = link.certificate_expires_on.isoformat()

    # The customer: the reminder on the portal's home and bell, the renewal on the link page.
    customer = _customer(browser, base, world.customer_x.username)
    customer.goto(f"{base}/portal/")
    snap(customer, "renewal-portal-home")
    card = customer.inner_text(f"#case-{request.case.public_id}")
    assert "到期前提交更新后的证书" in card and "草稿" not in card, card
    assert "完善申请资料" not in card  # not an application to complete
    unread = int(customer.inner_text(".bell .badge"))
    customer.click(".bell")
    assert f"证书将于{expiry}到期" in customer.inner_text("main")
    # The customer's notices page keeps the portal's menu (not the staff workspace's).
    menu = customer.inner_text("header nav")
    assert "我的申请" in menu and "案件列表" not in menu, menu
    snap(customer, "renewal-portal-notices")
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    requests = customer.inner_text("#requests")
    assert reference in requests and "证书更新" in requests and "待客户更新证书" in requests
    customer.click(f"#requests >> text={reference}")
    customer.wait_for_selector("#link-renewal")
    assert "FEP-OLD-1" in customer.inner_text("#link-renewal")
    new_expiry = timezone.localdate() + dt.timedelta(days=730)
    customer.fill("#link-renewal input[name=serial]", "fep-new-2")
    customer.fill("#link-renewal input[name=expires_on]", new_expiry.isoformat())
    snap(customer, "renewal-portal-form")
    customer.click("#link-renewal button.primary")
    customer.wait_for_selector("text=新证书已提交,等待总行科技部确认")
    submitted = LinkEvent.objects.get(request=request, name=LinkEvent.Name.CERTIFICATE_SUBMITTED)
    assert submitted.data == {"serial": "FEP-NEW-2", "expires_on": new_expiry.isoformat()}  # the date survived
    panel = customer.inner_text("#link-renewal")
    assert f"FEP-NEW-2 · 到期日 {new_expiry.isoformat()}" in panel
    assert customer.locator("#link-renewal input[name=serial]").count() == 0  # nothing to enter twice
    # Done what the reminder asked: it leaves the to-do box and the bell.
    assert "请登录企业客户端提交更新后的证书" not in customer.inner_text("main")
    assert int(customer.inner_text(".bell .badge")) == unread - 1
    snap(customer, "renewal-portal-submitted")

    # Head-office tech: told on the bell, the renewal in 轮到我办理, confirms it on the case page.
    tech = _staff(browser, base, world.tech.username)
    tech.goto(f"{base}/")
    assert reference in tech.inner_text("main")
    tech.goto(f"{base}/reminders/")
    assert reference in tech.inner_text("main")
    staff_url = f"{base}/cases/{request.case.public_id}/"
    tech.goto(staff_url)
    assert f"FEP-NEW-2 · 到期日 {new_expiry.isoformat()}" in tech.inner_text("#link-renewal")
    snap(tech, "renewal-tech-confirm")
    tech.locator("#actions button", has_text="确认新证书").click()
    tech.wait_for_selector("text=新证书已生效,证书更新办结")
    request.refresh_from_db()
    assert not request.is_open
    assert OnboardingCase.objects.get(pk=request.case_id).state == cert_renewal.DONE

    # Both link pages show the new certificate; the history records the change.
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    facts = customer.inner_text("#link-facts")
    assert "FEP-NEW-2" in facts and new_expiry.isoformat() in facts
    history = customer.inner_text("#history")
    assert "证书更新" in history and "FEP-OLD-1" in history and "FEP-NEW-2" in history
    snap(customer, "renewal-portal-link-renewed")
    tech.goto(f"{base}/links/{link.public_id}/")
    facts = tech.inner_text("#link-facts")
    assert "FEP-NEW-2" in facts and new_expiry.isoformat() in facts
    assert "FEP-NEW-2" in tech.inner_text("#history")
    snap(tech, "renewal-staff-link-renewed")


def test_after_expiry_the_counter_renews_with_maker_and_a_different_checker(live_server, browser, snap):
    from tests.factories import World

    world = World()
    link = _expiring_link(world, 5)
    base = live_server.url
    request_tasks.renewal_sweep.apply().get()
    request = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    reference = request.case.reference
    # The customer let it run out.
    LiveLink.objects.filter(pk=link.pk).update(certificate_expires_on=timezone.localdate() - dt.timedelta(days=2))

    # The customer's page says to go to the counter, with no form.
    customer = _customer(browser, base, world.customer_x.username)
    customer.goto(f"{base}/portal/cases/{request.case.public_id}/")
    assert "证书已过期,不能自助更新" in customer.inner_text("#link-renewal")
    assert customer.locator("#link-renewal input[name=serial]").count() == 0

    # A counter clerk who holds both counter roles moves it to the counter and enters it.
    clerk = user("clerk_both", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    maker = _staff(browser, base, clerk.username)
    maker.goto(f"{base}/links/{link.public_id}/")
    maker.click(f"#requests >> text={reference}")
    maker.wait_for_selector("#link-renewal")
    maker.locator("#actions button", has_text="转柜面更新").click()
    maker.wait_for_selector("text=证书已过期,已转柜面办理")
    new_expiry = timezone.localdate() + dt.timedelta(days=700)
    maker.fill("#link-renewal input[name=serial]", "FEP-CTR-3")
    maker.fill("#link-renewal input[name=expires_on]", new_expiry.isoformat())
    snap(maker, "renewal-counter-maker")
    maker.click("#link-renewal button.primary")
    maker.wait_for_selector("text=更新后的证书已录入,等待柜面复核")
    assert OnboardingCase.objects.get(pk=request.case_id).state == cert_renewal.COUNTER_CHECKS
    # The maker holds the checker's role too, yet their page offers no confirmation, and says why.
    assert maker.locator("#actions button", has_text="复核通过").count() == 0
    assert maker.locator("#next-step a", has_text="复核更新后的证书").count() == 0
    assert "不能复核自己录入的事项" in maker.inner_text("#renewal-own-entry")
    assert maker.locator("section.card h2", has_text="证书更新").count() == 1  # one panel, not two
    assert "link_renew" not in maker.inner_text("main")  # the history names the stages in Chinese
    snap(maker, "renewal-counter-maker-cannot-check")
    link.refresh_from_db()
    assert link.certificate_serial == "FEP-OLD-1"

    # A different checker: told, finds it in 轮到我办理, confirms.
    checker = _staff(browser, base, world.checker.username)
    checker.goto(f"{base}/")
    assert reference in checker.inner_text("main")
    checker.click(f"main >> text={reference}")
    checker.wait_for_selector("#link-renewal")
    assert checker.locator("#renewal-own-entry").count() == 0
    assert f"FEP-CTR-3 · 到期日 {new_expiry.isoformat()}" in checker.inner_text("#link-renewal")
    checker.locator("#actions button", has_text="复核通过").click()
    checker.wait_for_selector("text=新证书已生效,证书更新办结")
    link.refresh_from_db()
    assert link.certificate_serial == "FEP-CTR-3" and link.certificate_expires_on == new_expiry

    checker.goto(f"{base}/links/{link.public_id}/")
    facts = checker.inner_text("#link-facts")
    assert "FEP-CTR-3" in facts and new_expiry.isoformat() in facts
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    assert "FEP-CTR-3" in customer.inner_text("#link-facts")
    assert "证书已于" not in customer.inner_text("main")  # the expiry reminder is done with
    snap(customer, "renewal-portal-after-counter")
