"""The paged thread in Chromium: the customer's case page shows the newest messages and a link
to the older ones; following it shows a page of the thread, and the newer link leads back."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone

from onboarding.states import State
from portal.models import CaseMessage
from portal.selectors import CASE_PAGE_MESSAGES
from tests.factories import PASSWORD, World


@pytest.mark.browser
def test_the_customer_pages_through_a_long_thread(live_server, transactional_db, browser, tmp_path):
    target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    world = World()
    case = world.case(State.BRANCH_INTAKE)
    start = timezone.now() - dt.timedelta(days=3)
    CaseMessage.objects.bulk_create(
        CaseMessage(
            case=case,
            author=world.customer_x if k % 2 == 0 else world.am_a,
            from_customer=k % 2 == 0,
            body=f"留言{k:04d}号",
            created_at=start + dt.timedelta(minutes=k),
        )
        for k in range(120)
    )
    base = live_server.url
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=login]", "customer_x")
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/portal/")
    page.goto(f"{base}/portal/cases/{case.public_id}/#thread")
    items = page.locator("#thread ol.messages-thread li")
    assert items.count() == CASE_PAGE_MESSAGES
    assert "留言0119号" in items.last.inner_text()
    page.locator("#thread").screenshot(path=str(target / "portal-thread-newest.png"))
    page.click("#thread a[rel=prev]")
    assert "/thread/?before=" in page.url
    assert "留言0099号" in page.locator("#thread ol.messages-thread li").last.inner_text()
    page.screenshot(path=str(target / "portal-thread-page.png"), full_page=True)
    page.click("#thread a[rel=next]")
    assert "留言0119号" in page.locator("#thread ol.messages-thread li").last.inner_text()
