"""Overdue shown in working days; the missing-calendar warning only for those who can fix it."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from onboarding.states import State
from workcalendar.models import CalendarDay


def test_an_overdue_row_counts_working_days_late_not_calendar_weeks(client, world) -> None:
    # Thursday 2026-03-05 10:00 enters branch intake (SLA in working days); seen the next Thursday.
    with freeze_time("2026-03-05 02:00:00"):
        case = world.case(State.BRANCH_INTAKE)
    due = case.current_visit.due_at
    with freeze_time(due + dt.timedelta(days=7)):  # one calendar week later = 5 working days
        client.force_login(world.am_a)
        page = client.get(reverse("case_list"), {"overdue": "on"}).content.decode()
    row = page[page.index(case.reference) :]
    row = row[: row.index("</tr>")]
    assert re.search(r"已超时 5 个工作日", row), row
    assert "周" not in row


def test_a_case_not_yet_due_shows_no_lateness(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_a)
    page = client.get(reverse("case_list")).content.decode()
    row = page[page.index(case.reference) :]
    row = row[: row.index("</tr>")]
    assert "已超时" not in row


def test_the_missing_calendar_year_warning_is_for_calendar_administrators_only(client, world) -> None:
    year = timezone.localdate().year
    CalendarDay.objects.filter(date__year__in=[year, year + 1]).delete()
    client.force_login(world.am_a)
    assert "calendar-missing" not in client.get(reverse("home")).content.decode()

    world.am_a2.user_permissions.add(Permission.objects.get(codename="change_calendarday"))
    client.force_login(world.am_a2)
    page = client.get(reverse("home")).content.decode()
    assert "calendar-missing" in page and str(year) in page


def test_one_working_day_late_reads_as_english_in_english(client, world) -> None:
    # "1 working days late" was the English badge: the count now follows a label, right for any number.
    from django.conf import settings

    with freeze_time("2026-03-05 02:00:00"):
        case = world.case(State.BRANCH_INTAKE)
    due = case.current_visit.due_at
    with freeze_time(due + dt.timedelta(days=1)):  # Thursday → Friday: one working day
        client.force_login(world.am_a)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        rows = client.get(reverse("case_list"), {"overdue": "on"}).content.decode()
        page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    row = rows[rows.index(case.reference) :]
    assert "Working days late: 1" in row[: row.index("</tr>")]
    assert "Working days late: 1" in page and "working days late" not in page
