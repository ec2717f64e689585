"""Rework in Chromium, as the people who live it: head office returns the case with a reason
and marks the business licence to redo; the customer opens the site's root, logs in, lands in
the portal (not on a 403), finds the notice with the reason on the bell and the document marked
需补正 in its to-do, and reads the same notice in English after switching the language.
Screenshots: rework-portal, rework-notices-en."""

from __future__ import annotations

import pytest

from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "营业执照复印件未加盖公章"


def test_the_customer_is_told_of_the_return_with_its_reason(page, live_server, shot):
    from tests.factories import World

    world = World()
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})

    staff_login(page, base, world.approver.username)
    page.goto(f"{base}/cases/{case.public_id}/")
    form = page.locator("form.transition", has=page.locator("button[value=return_to_intake]"))
    form.locator("textarea[name=reason]").fill(REASON)
    form.locator("input[name=redo][value=business_licence]").check()
    form.locator("button[value=return_to_intake]").click()
    page.wait_for_load_state()
    assert "已退回分支行补件" in page.inner_text("main")
    page.context.clear_cookies()

    # The customer opens the root, logs in, and lands in the portal.
    page.goto(f"{base}/")
    assert "/login/?next=/" in page.url
    page.fill("input[name=login]", world.customer_x.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/portal/")
    assert "无权访问" not in page.inner_text("body")
    assert page.locator("a.bell .badge").inner_text() == "1"

    page.goto(f"{base}/portal/cases/{case.public_id}/")
    todo = page.inner_text("main")
    assert REASON in todo and "需补正" in todo and "目前无需贵司办理" not in todo
    shot("rework-portal")

    page.goto(f"{base}/reminders/")
    assert REASON in page.inner_text("ul.notices")
    page.click("button[name=language][value=en]")
    page.wait_for_load_state()
    page.goto(f"{base}/reminders/")
    text = page.inner_text("ul.notices")
    assert "please put right what the reason names" in text and REASON in text
    shot("rework-notices-en")
