"""Seen in the browser: a cockpit table cut to its first rows leads to the whole table; the
case list says when a filter cannot be read and lists the longest overdue first."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.browser.helpers import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_cut_cockpit_table_leads_to_the_whole_table(page, live_server, shot):
    from analytics import history
    from tests.factories import World

    world = World()
    history.seed_history(cases=400)
    page.set_viewport_size({"width": 1400, "height": 1000})
    staff_login(page, live_server.url, world.approver.username)
    page.goto(f"{live_server.url}/analytics/")
    section = page.locator("#figure-cycle_modules")
    shown = section.locator("tbody tr").count()
    note = section.locator("p.more").inner_text()
    assert shown == 20 and note.startswith("显示前 20 行,共 ")
    total = int(note.split("共 ")[1].split(" 行")[0])
    assert total > 20
    section.locator("text=查看全部").click()
    page.wait_for_url("**/analytics/table/**")
    assert page.locator("#table-cycle_modules tbody tr").count() == total
    assert "与驾驶舱同一份数据" in page.inner_text("main") and page.locator("p.more").count() == 0
    shot("analytics-whole-table")


def test_the_case_list_says_when_a_filter_cannot_be_read_and_lists_the_longest_overdue_first(page, live_server, shot):
    from django.utils import timezone
    from freezegun import freeze_time

    from onboarding.states import State
    from tests.factories import World, enterprise

    world = World()
    with freeze_time(timezone.now() - dt.timedelta(days=40)):
        oldest = world.case(State.BRANCH_INTAKE)
    with freeze_time(timezone.now() - dt.timedelta(days=20)):
        later = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="丁公司"))
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_login(page, live_server.url, world.am_a.username)
    page.goto(f"{live_server.url}/cases/?state=nonsense")
    assert "状态:" in page.inner_text(".messages")
    assert "筛选条件有误,请更正后再查询。" in page.inner_text("table.cases")
    shot("case-list-bad-filter")
    # The reader ticks 仅超时 in the form and searches, as in the browser.
    page.select_option("select[name=state]", "")
    page.check("input[name=overdue]")
    page.click("form.filters button.primary")
    page.wait_for_load_state("networkidle")
    assert page.locator(".messages").count() == 0
    rows = page.locator("table.cases tbody tr").all_inner_texts()
    assert "超时最久的在前。" in page.inner_text("main")
    assert [r.split("\t")[0].strip() for r in rows] == [oldest.reference, later.reference]
    shot("case-list-overdue-first")
