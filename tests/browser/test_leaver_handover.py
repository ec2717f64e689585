"""A leaver's 30 cases, handed on in one pass: the supervisor opens the leaver queue, ticks all,
chooses a colleague, previews, confirms; the colleague logs in and finds them in the queue and
the bell. Screenshots: people-leaver-preview, people-new-holder-queue."""

from __future__ import annotations

import pytest

from onboarding import services
from onboarding.models import OnboardingCase
from onboarding.states import Module
from tests.browser.helpers import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_supervisor_hands_a_leavers_30_cases_on_after_a_preview(page, live_server, shot):
    from tests.factories import World, enterprise

    world = World()
    cases = [
        services.case_create(user=world.am_a, enterprise=enterprise(world.branch_a), modules=[Module.ACCOUNT_QUERY])
        for _ in range(30)
    ]
    world.am_a.is_active = False
    world.am_a.save()  # the administrator deactivates her: her cases go to the leaver queue
    assert not OnboardingCase.objects.filter(account_manager=world.am_a).exists()
    page.set_viewport_size({"width": 1280, "height": 900})

    staff_login(page, live_server.url, world.supervisor.username)
    page.goto(f"{live_server.url}/")
    page.click("#team a:has-text('离职交接队列')")
    # The "全选" box works through static/people/select_all.js: tick it once the page's scripts
    # have run, as a person would after the page has loaded (ticked earlier, nothing followed it).
    page.wait_for_load_state("load")
    assert page.locator(".work-item").count() == 30
    page.check("input[data-check-all=item]")
    assert page.locator("input[name=item]:checked").count() == 30
    page.select_option("select[name=target]", str(world.am_a2.pk))
    page.fill("textarea[name=reason]", "客户经理离职,案件整体移交")
    page.click("button[name=preview]")
    page.wait_for_selector("#preview")
    assert page.locator(".preview-item").count() == 30
    assert page.locator(".preview-item.refused").count() == 0
    shot("people-leaver-preview")
    page.click("button[name=confirm]")
    page.wait_for_load_state()
    assert "已转交 30 项工作给 am_a2" in page.inner_text("main")
    assert OnboardingCase.objects.filter(pk__in=[c.pk for c in cases], account_manager=world.am_a2).count() == 30
    page.context.clear_cookies()

    staff_login(page, live_server.url, world.am_a2.username)
    page.goto(f"{live_server.url}/")
    queue = page.inner_text("#queue")
    assert all(c.reference in queue for c in cases)
    assert page.locator(".bell .badge").inner_text().strip() == "30"  # one notice per case handed on
    shot("people-new-holder-queue")
