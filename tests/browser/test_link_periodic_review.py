"""A periodic review (定期复核) walked in Chromium: the morning job opens the review of a high-risk
link; the account manager is told on the bell, finds it in 轮到我办理 and records the result (a
finding, with the reason); the link's history shows it on the staff page and on the portal."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone

from links.models import LinkEvent, LinkRequest, LiveLink
from links.requests import periodic_review as pr
from links.tasks import periodic_reviews
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()


@pytest.fixture
def snap(tmp_path):
    folder = Path(os.environ.get("SHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def test_the_morning_job_opens_a_review_and_the_account_manager_records_it(live_server, browser, snap, settings):
    from tests.factories import World

    settings.LINK_REVIEW_MONTHS = {"high": 12, "medium": 24, "low": 36}
    world = World()
    case = world.case(State.LIVE)
    OnboardingCase.objects.filter(pk=case.pk).update(risk_level="high")
    link = LiveLink.objects.get(onboarding_case=case)
    LiveLink.objects.filter(pk=link.pk).update(went_live_at=timezone.now() - dt.timedelta(days=400))
    assert periodic_reviews() == 1  # the morning job (beat entry links-periodic-reviews)
    request = LinkRequest.objects.get(link=link, kind=pr.CODE)
    reference = request.case.reference
    base = live_server.url

    # The account manager: told on the bell, the review in 轮到我办理.
    am = _page(browser)
    staff_login(am, base, world.am_a.username)
    am.goto(f"{base}/reminders/")
    assert reference in am.inner_text("main") and "新的定期复核" in am.inner_text("main")
    am.goto(f"{base}/")
    home = am.inner_text("main")
    assert reference in home and "复核直联服务" in home
    am.click(f"main >> text={reference}")
    am.wait_for_selector("#actions")
    snap(am, "review-1-case")
    findings = am.locator("#actions form", has=am.locator("button", has_text="复核发现问题,需客户整改"))
    findings.locator("textarea[name=reason]").fill("授权人已离职,须办理操作员变更")
    findings.locator("button").click()
    am.wait_for_selector("text=定期复核已办结,已记录整改要求")
    request.refresh_from_db()
    assert not request.is_open and OnboardingCase.objects.get(pk=request.case_id).state == pr.FINDINGS
    closed = link.events.get(name=LinkEvent.Name.REQUEST_CLOSED, request=request)
    assert closed.channel == "bank" and closed.reason == "授权人已离职,须办理操作员变更"

    # The link's history shows the review and its result, with the reason.
    am.goto(f"{base}/links/{link.public_id}/")
    history = am.inner_text("#history")
    assert "定期复核 · 定期复核需整改" in history and "授权人已离职" in history
    snap(am, "review-2-staff-history")

    # The company sees it too, and was told of the finding.
    customer = _page(browser)
    customer.goto(f"{base}/login/")
    customer.fill("input[name=login]", world.customer_x.username)
    customer.fill("input[name=password]", PASSWORD)
    customer.click("button.primary")
    customer.wait_for_url(f"{base}/portal/**")
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    assert "定期复核需整改" in customer.inner_text("#history")
    customer.goto(f"{base}/reminders/")
    notices = customer.inner_text("main")
    assert reference in notices and "授权人已离职" in notices
    snap(customer, "review-3-portal-notice")
