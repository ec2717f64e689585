"""The staff case page leads with what to do now, and staff pages fit a 390 px phone (issue 25).

Measured in Chromium: the case page's height at intake at 1280 px, and at 390 px that no page
scrolls sideways (wide tables scroll inside their own box). Screenshots with SAVE_SCREENSHOTS=1:
case-intake-1280, case-intake-390, case-counter-1280, case-counter-390."""

from __future__ import annotations

import pytest

from onboarding.states import State
from tests.browser.helpers import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def measure(page) -> dict[str, int]:
    return page.evaluate(
        "() => ({height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth})"
    )


def test_the_intake_page_is_short_and_leads_with_the_main_action(page, live_server, shot):
    from tests.factories import World

    world = World()
    case = world.case(State.BRANCH_INTAKE, documents=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_login(page, live_server.url, world.am_a.username)
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    size = measure(page)
    print("intake 1280:", size)
    shot("case-intake-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    size390 = measure(page)
    print("intake 390:", size390)
    shot("case-intake-390")
    page.goto(f"{live_server.url}/cases/")
    print("list 390:", measure(page))
