"""The counter maker enters an identity check; the checker's dashboard and bell show it, the
maker's do not; the case page opens on the next-step panel. Screenshots: staff-queue, staff-next-step."""

from __future__ import annotations

import pytest

from counter.models import CounterEntry
from onboarding.states import State
from tests.browser.helpers import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_checker_is_handed_the_entry_the_maker_made(page, live_server, shot):
    from tests.factories import World

    world = World()
    case = world.case(State.UKEY_ISSUANCE)
    ent = case.enterprise
    page.set_viewport_size({"width": 1280, "height": 900})

    staff_login(page, live_server.url, world.maker.username)
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    assert page.locator("#next-step").is_visible()
    shot("staff-next-step")
    page.select_option("#counter-visit select[name=person]", "legal_rep")
    page.fill("#counter-visit input[name=person_name]", ent.legal_rep_name)
    page.fill("#counter-visit input[name=id_number]", ent.legal_rep_id_number)
    page.locator("#counter-visit button.primary").click()
    page.wait_for_load_state()
    assert CounterEntry.objects.filter(case=case, maker=world.maker).exists()
    page.goto(f"{live_server.url}/")
    assert page.locator(".queue-item").count() == 0  # not the maker's to confirm
    page.context.clear_cookies()

    staff_login(page, live_server.url, world.checker.username)
    page.goto(f"{live_server.url}/")
    item = page.locator(".queue-item", has_text=case.reference)
    assert "复核:临柜身份核验" in item.inner_text()
    shot("staff-queue")
    page.goto(f"{live_server.url}/reminders/")
    assert "待您复核" in page.inner_text("main")
    page.goto(f"{live_server.url}/")
    item.locator("a.queue-action").click()
    page.wait_for_selector("#counter")
    assert page.url.endswith("#counter")
