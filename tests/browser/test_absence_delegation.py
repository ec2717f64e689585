"""An account manager sets her absence in the browser (date inputs) with a colleague as
substitute; work arrives for her; the colleague finds it in his queue marked "代 am_a 办理",
acts on the case, and the timeline names both. Screenshot: people-delegated-case."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from onboarding import services
from onboarding.models import CaseEvent
from onboarding.states import State
from people.models import Absence
from tests.browser.helpers import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_substitute_acts_during_the_absence_and_the_record_names_both(page, live_server, shot):
    from tests.factories import World

    world = World()
    today = timezone.localdate()
    page.set_viewport_size({"width": 1280, "height": 900})

    staff_login(page, live_server.url, world.am_a.username)
    page.click("header nav a:has-text('休假委托')")
    page.fill("input[name=starts_on]", today.isoformat())
    page.fill("input[name=ends_on]", (today + dt.timedelta(days=5)).isoformat())
    page.select_option("select[name=substitute]", str(world.am_a2.pk))
    page.fill("input[name=reason]", "年假")
    page.click("#absence-form button.primary")
    page.wait_for_load_state()
    assert "休假委托已保存" in page.inner_text("main")
    absence = Absence.objects.get()
    assert (absence.starts_on, absence.ends_on, absence.substitute) == (
        today,
        today + dt.timedelta(days=5),
        world.am_a2,
    )
    page.context.clear_cookies()

    draft = world.case(State.DRAFT)
    services.case_transition(case=draft, user=world.customer_x, name="submit")  # work arrives for am_a

    staff_login(page, live_server.url, world.am_a2.username)
    page.goto(f"{live_server.url}/")
    item = page.locator(".queue-item", has_text=draft.reference)
    assert "代 am_a 办理" in item.inner_text()
    item.locator("a.queue-action").click()
    page.wait_for_selector("#people")
    assert "由 am_a2 代 am_a 办理" in page.inner_text("#people")
    page.fill("#thread textarea[name=body]", "您好,am_a 休假期间由我代为办理。")
    page.click("#thread button.primary")
    page.wait_for_load_state()
    event = CaseEvent.objects.filter(case=draft, actor=world.am_a2).latest("pk")
    assert event.data["on_behalf_of"] == world.am_a.pk
    assert "am_a2 代 am_a 办理" in page.inner_text(".timeline")
    shot("people-delegated-case")
