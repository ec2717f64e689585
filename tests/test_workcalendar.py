"""Due dates on the official calendar kept in the database; suspended time does not count."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from freezegun import freeze_time

from onboarding import services
from onboarding.states import State
from workcalendar import workcal
from workcalendar.models import CalendarDay, StageSLA

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def intake_case(world, when: dt.datetime):
    with freeze_time(when):
        return world.case(State.BRANCH_INTAKE)


@pytest.mark.django_db
def test_the_seed_has_the_2026_national_day_schedule() -> None:
    cal = workcal.calendar(dt.date(2026, 9, 1), dt.date(2026, 10, 31))
    assert not cal.is_workday(dt.date(2026, 10, 1))
    assert not cal.is_workday(dt.date(2026, 10, 7))  # a Wednesday, but a holiday
    assert not cal.is_workday(dt.date(2026, 9, 27))  # Sunday, not adjusted (chinesecalendar 1.11)
    assert cal.is_workday(dt.date(2026, 9, 20))  # Sunday, adjusted working day
    assert cal.is_workday(dt.date(2026, 10, 10))  # Saturday, adjusted working day
    assert cal.is_workday(dt.date(2026, 10, 8))
    assert StageSLA.objects.get(stage=State.JOINT_TESTING).days == 15


def test_due_date_across_national_day_lands_on_the_adjusted_saturday(world) -> None:
    # Entered Monday 28 Sep: Tue 29, Wed 30, (1–7 Oct off), Thu 8, Fri 9, Sat 10 (调休上班).
    case = intake_case(world, at(2026, 9, 28, 10, 0))
    assert case.current_visit.due_at == at(2026, 10, 10, 10, 0)
    # Monday–Friday arithmetic would have said Monday 5 October.
    assert case.current_visit.due_at != at(2026, 10, 5, 10, 0)


def test_a_sunday_that_is_not_adjusted_does_not_count(world) -> None:
    # Friday 25 Sep + 1 working day: Sat 26 and Sun 27 are off, so Monday 28.
    StageSLA.objects.filter(stage=State.BRANCH_INTAKE).update(days=1)
    case = intake_case(world, at(2026, 9, 25, 16, 30))
    assert case.current_visit.due_at == at(2026, 9, 28, 16, 30)


def test_due_time_is_the_local_time_of_day_even_just_after_midnight(world) -> None:
    # 00:30 in Shanghai is the previous day in UTC; the count starts from the local date.
    case = intake_case(world, at(2026, 9, 28, 0, 30))
    assert case.current_visit.due_at == at(2026, 10, 10, 0, 30)


def test_an_edited_sla_applies_to_the_next_visit(world) -> None:
    StageSLA.objects.filter(stage=State.BRANCH_INTAKE).update(days=2)
    case = intake_case(world, at(2026, 6, 1, 10, 0))
    assert case.current_visit.due_at == at(2026, 6, 3, 10, 0)


def test_year_end_into_an_unpublished_year_falls_back_to_monday_to_friday(world, admin_client) -> None:
    assert not CalendarDay.objects.filter(date__year=2027).exists()
    # Mon 28 Dec 2026: Tue 29, Wed 30, Thu 31, Fri 1 Jan 2027 (unknown: a weekday counts), Mon 4.
    case = intake_case(world, at(2026, 12, 28, 10, 0))
    assert case.current_visit.due_at == at(2027, 1, 4, 10, 0)
    assert workcal.missing_schedule_years(today=dt.date(2026, 12, 28)) == [2027]

    # An administrator enters the 2027 New Year holiday through the admin.
    response = admin_client.post(
        reverse("admin:workcalendar_calendarday_add"), {"date": "2027-01-01", "is_workday": "", "name": "元旦"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert workcal.missing_schedule_years(today=dt.date(2026, 12, 28)) == []
    later = intake_case(world, at(2026, 12, 28, 10, 0))
    assert later.current_visit.due_at == at(2027, 1, 5, 10, 0)


def test_admin_and_dashboard_warn_while_next_year_is_missing(world, admin_client, client) -> None:
    with freeze_time(at(2026, 11, 20, 10, 0)):
        page = admin_client.get(reverse("admin:workcalendar_calendarday_changelist")).content.decode()
        assert "尚未录入2027年节假日安排" in page
        client.force_login(world.am_a)  # cannot edit the calendar: not told (issue 10)
        assert "尚未录入2027年节假日安排" not in client.get(reverse("home")).content.decode()
        world.am_a.user_permissions.add(Permission.objects.get(codename="change_calendarday"))
        client.force_login(get_user_model().objects.get(pk=world.am_a.pk))
        home = client.get(reverse("home")).content.decode()
        assert "尚未录入2027年节假日安排" in home
        CalendarDay.objects.create(date=dt.date(2027, 1, 1), is_workday=False, name="元旦")
        assert "尚未录入2027年" not in client.get(reverse("home")).content.decode()
        assert (
            "尚未录入2027年"
            not in admin_client.get(reverse("admin:workcalendar_calendarday_changelist")).content.decode()
        )


def test_suspended_working_time_is_added_back_in_working_days(world) -> None:
    # Entered Wed 3 Jun 10:00, due Wed 10 Jun 10:00. Suspended Thu 4 Jun 10:00 to Mon 8 Jun
    # 10:00: two working days (Thu and Fri), so due Fri 12 Jun 10:00. The old wall-clock
    # shift (four days) would have put it on Sunday 14 June.
    case = intake_case(world, at(2026, 6, 3, 10, 0))
    assert case.current_visit.due_at == at(2026, 6, 10, 10, 0)
    with freeze_time(at(2026, 6, 4, 10, 0)):
        case = services.case_transition(case=case, user=world.am_a, name="suspend", reason="客户系统升级")
    with freeze_time(at(2026, 6, 8, 10, 0)):
        case = services.case_transition(case=case, user=world.am_a, name="resume")
    case.current_visit.refresh_from_db()
    assert case.current_visit.due_at == at(2026, 6, 12, 10, 0)
    assert case.current_visit.paused_seconds == 4 * 86400


def test_a_suspension_over_a_weekend_only_costs_its_working_hours(world) -> None:
    # Suspended Fri 5 Jun 17:00, resumed Mon 8 Jun 09:00: 7 h of Friday and 9 h of Monday.
    case = intake_case(world, at(2026, 6, 3, 10, 0))
    with freeze_time(at(2026, 6, 5, 17, 0)):
        case = services.case_transition(case=case, user=world.am_a, name="suspend", reason="等待客户")
    with freeze_time(at(2026, 6, 8, 9, 0)):
        case = services.case_transition(case=case, user=world.am_a, name="resume")
    case.current_visit.refresh_from_db()
    assert case.current_visit.due_at == at(2026, 6, 11, 2, 0)


def test_working_seconds_and_shift_are_inverse_across_a_holiday() -> None:
    cal = workcal.WorkCalendar(
        {dt.date(2026, 10, d): False for d in range(1, 8)} | {dt.date(2026, 10, 10): True},
        dt.date(2026, 9, 1),
        dt.date(2026, 11, 1),
        None,
    )
    start = at(2026, 9, 30, 15, 0)
    end = cal.shift(start, 2 * 86400)
    assert end == at(2026, 10, 9, 15, 0)
    assert cal.working_seconds(start, end) == 2 * 86400
    assert cal.working_seconds(end, start) == -2 * 86400
    assert cal.working_seconds(at(2026, 10, 2, 9, 0), at(2026, 10, 6, 9, 0)) == 0


def test_the_cutoff_answers_has_it_been_late_that_long_for_every_moment() -> None:
    """`cutoff(end, s)` is the moment before which exactly the times `working_seconds(t, end) >= s` lie.

    Checked second by second around each candidate and over a spread of moments, ends and
    lateness across the National Day holiday and its adjusted Saturday (the sweep relies on it
    to decide reminder levels in one query).
    """
    import random

    cal = workcal.WorkCalendar(
        {dt.date(2026, 10, d): False for d in range(1, 8)} | {dt.date(2026, 10, 10): True},
        dt.date(2026, 8, 1),
        dt.date(2026, 12, 1),
        None,
    )
    rng = random.Random(13)
    ends = [at(2026, 10, 12, 10, 0), at(2026, 10, 4, 3, 0), at(2026, 10, 10, 23, 59, 59), at(2026, 10, 8, 0, 0)]
    ends += [at(2026, 9, 20) + dt.timedelta(seconds=rng.randrange(40 * 86400)) for _ in range(20)]
    for end in ends:
        for seconds in (0, 1, 86400, 2 * 86400 + 3600, 5 * 86400, 216000, 10 * 86400, 15 * 86400):
            cut = cal.cutoff(end, seconds)
            assert cal.working_seconds(cut - dt.timedelta(seconds=1), end) >= seconds, (end, seconds, cut)
            assert cal.working_seconds(cut - dt.timedelta(microseconds=1), end) >= seconds
            assert cal.working_seconds(cut, end) < seconds, (end, seconds, cut)
            for _ in range(30):
                t = end - dt.timedelta(seconds=rng.randrange(30 * 86400), microseconds=rng.randrange(10**6))
                assert (cal.working_seconds(t, end) >= seconds) == (t < cut), (end, seconds, t, cut)


@pytest.mark.django_db
def test_service_levels_are_named_by_the_stages_onboarding_registered() -> None:
    assert str(StageSLA.objects.get(stage=State.JOINT_TESTING)) == "联调测试: 15"


@pytest.mark.django_db
def test_the_admin_edits_service_levels_by_stage_name(admin_client) -> None:
    sla = StageSLA.objects.get(stage=State.JOINT_TESTING)
    page = admin_client.get(reverse("admin:workcalendar_stagesla_change", args=[sla.pk])).content.decode()
    assert '<option value="joint_testing" selected>联调测试</option>' in page
    admin_client.post(
        reverse("admin:workcalendar_stagesla_change", args=[sla.pk]), {"stage": State.JOINT_TESTING, "days": 12}
    )
    assert StageSLA.objects.get(pk=sla.pk).days == 12
    assert admin_client.get(reverse("admin:workcalendar_stagesla_changelist")).status_code == 200


@pytest.mark.django_db
def test_the_shared_calendar_cache_follows_edits_at_once() -> None:
    """Pages read the calendar from the shared cache; a day saved or deleted is seen at once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    day = dt.date(2027, 3, 3)  # a Wednesday of a year nobody has entered
    assert workcal.calendar().is_workday(day)
    with CaptureQueriesContext(connection) as ctx:
        assert workcal.calendar().is_workday(day)
    assert len(ctx.captured_queries) == 0  # warm: no calendar rows read
    row = CalendarDay.objects.create(date=day, is_workday=False, name="测试休息日")
    assert not workcal.calendar().is_workday(day)
    row.delete()
    assert workcal.calendar().is_workday(day)


@pytest.mark.django_db(transaction=True)
def test_a_flushed_database_gets_the_seeded_calendar_back_and_an_edit_is_kept() -> None:
    # Django empties the database after every transactional test (`flush`); the tests after it
    # on the same process found no holidays until `post_migrate` put the seed back.
    from django.core.management import call_command

    seeded_days = set(CalendarDay.objects.values_list("date", "is_workday"))
    seeded_levels = dict(StageSLA.objects.values_list("stage", "days"))
    assert dt.date(2026, 10, 1) in {d for d, _ in seeded_days} and seeded_levels[State.JOINT_TESTING] == 15

    call_command("flush", interactive=False, verbosity=0)
    assert set(CalendarDay.objects.values_list("date", "is_workday")) == seeded_days
    assert dict(StageSLA.objects.values_list("stage", "days")) == seeded_levels
    assert not workcal.calendar().is_workday(dt.date(2026, 10, 1))

    # An administrator's edit is theirs: a later migrate seeds nothing over it.
    StageSLA.objects.filter(stage=State.JOINT_TESTING).update(days=20)
    CalendarDay.objects.filter(date=dt.date(2026, 10, 8)).delete()
    call_command("migrate", verbosity=0)
    assert StageSLA.objects.get(stage=State.JOINT_TESTING).days == 20
    assert not CalendarDay.objects.filter(date=dt.date(2026, 10, 8)).exists()
