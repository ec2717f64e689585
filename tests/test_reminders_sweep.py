"""The overdue sweep: levels at 1×, 1.5×, 2× SLA, each exactly once, to the right people."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time
from kombu.exceptions import OperationalError

from notices import outbox
from notices.models import Notification, OutboxEmail
from onboarding import services as core
from onboarding.models import CaseEvent, StageVisit
from onboarding.states import State
from reminders import services
from reminders.models import Reminder

SH = ZoneInfo("Asia/Shanghai")
# Branch intake (5 working days) entered Monday 1 June 2026 10:00, due Monday 8 June 10:00.
ENTERED = dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)
AT_0_9 = dt.datetime(2026, 6, 5, 22, 0, tzinfo=SH)  # 4.5 working days
AT_1_0 = dt.datetime(2026, 6, 8, 10, 1, tzinfo=SH)
BEFORE_1_5 = dt.datetime(2026, 6, 10, 21, 59, tzinfo=SH)
AT_1_5 = dt.datetime(2026, 6, 10, 22, 0, tzinfo=SH)  # due + 2.5 working days
BEFORE_2_0 = dt.datetime(2026, 6, 15, 9, 59, tzinfo=SH)
AT_2_0 = dt.datetime(2026, 6, 15, 10, 0, tzinfo=SH)  # due + 5 working days


def intake_case(world, company=None):
    with freeze_time(ENTERED):
        return world.case(State.BRANCH_INTAKE, company=company)


def sweep(when: dt.datetime, capture) -> services.SweepResult:
    with freeze_time(when), capture(execute=True):
        return services.reminders_sweep()


def levels(case) -> list[int]:
    return sorted(Reminder.objects.filter(case=case).values_list("level", flat=True))


def reminder_mail(case, level: int | None = None) -> OutboxEmail:
    reminders = Reminder.objects.filter(case=case) if level is None else Reminder.objects.filter(case=case, level=level)
    return OutboxEmail.objects.get(
        kind="reminder", key__in=[f"reminder:{pk}" for pk in reminders.values_list("pk", flat=True)]
    )


def recipients_of_level(case, level: int) -> list[str]:
    return reminder_mail(case, level).to


def test_levels_fire_at_1x_1_5x_2x_and_not_before(world, django_capture_on_commit_callbacks) -> None:
    case = intake_case(world)
    mail.outbox.clear()

    assert sweep(AT_0_9, django_capture_on_commit_callbacks).claimed == []
    assert levels(case) == []

    sweep(AT_1_0, django_capture_on_commit_callbacks)
    assert levels(case) == [1]
    assert recipients_of_level(case, 1) == [world.am_a.email]

    sweep(BEFORE_1_5, django_capture_on_commit_callbacks)
    assert levels(case) == [1]
    sweep(AT_1_5, django_capture_on_commit_callbacks)
    assert levels(case) == [1, 2]
    assert recipients_of_level(case, 2) == [world.supervisor.email]  # the tier-1 branch above branch A

    sweep(BEFORE_2_0, django_capture_on_commit_callbacks)
    assert levels(case) == [1, 2]
    sweep(AT_2_0, django_capture_on_commit_callbacks)
    assert levels(case) == [1, 2, 3]
    assert recipients_of_level(case, 3) == [world.approver.email]  # head office

    assert [m.to for m in mail.outbox] == [[world.am_a.email], [world.supervisor.email], [world.approver.email]]
    assert all(set(m.extra_headers) == {"Message-ID"} for m in mail.outbox)  # the outbox row's own (notices.outbox)
    assert "催办" in mail.outbox[0].subject and "Reminder" in mail.outbox[0].subject
    assert "分支行受理" in mail.outbox[0].body and "branch intake" in mail.outbox[0].body
    events = CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.REMINDER).order_by("pk")
    assert [e.name for e in events] == ["remind", "escalate", "escalate_head_office"]
    assert set(
        Notification.objects.filter(case=case, kind="reminder").values_list("recipient__username", flat=True)
    ) == {
        "am_a",
        "supervisor",
        "approver",
    }


def test_each_level_is_sent_once_however_often_the_sweep_runs(world, django_capture_on_commit_callbacks) -> None:
    case = intake_case(world)
    mail.outbox.clear()
    for _ in range(3):
        sweep(AT_1_0, django_capture_on_commit_callbacks)
        sweep(AT_1_5, django_capture_on_commit_callbacks)
    assert levels(case) == [1, 2]
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(case=case, kind="reminder").count() == 2
    assert CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.REMINDER).count() == 2


def test_a_sweep_after_a_long_outage_sends_every_missed_level_once(world, django_capture_on_commit_callbacks) -> None:
    case = intake_case(world)
    mail.outbox.clear()
    sweep(AT_2_0, django_capture_on_commit_callbacks)
    sweep(AT_2_0, django_capture_on_commit_callbacks)
    assert levels(case) == [1, 2, 3]
    assert len(mail.outbox) == 3


def test_the_customer_and_its_account_manager_hear_when_the_customer_holds_the_ball(
    world, django_capture_on_commit_callbacks
) -> None:
    with freeze_time(ENTERED):
        case = world.case(State.JOINT_TESTING)  # 15 working days, customer holds the ball
    mail.outbox.clear()
    # 15 working days from 1 June, with the Dragon Boat holiday on Friday 19 June: 23 June.
    assert case.current_visit.due_at == dt.datetime(2026, 6, 23, 10, 0, tzinfo=SH)
    sweep(dt.datetime(2026, 6, 23, 9, 59, tzinfo=SH), django_capture_on_commit_callbacks)
    assert levels(case) == []
    sweep(dt.datetime(2026, 6, 23, 10, 1, tzinfo=SH), django_capture_on_commit_callbacks)
    assert levels(case) == [1]
    assert recipients_of_level(case, 1) == sorted(
        [world.customer_x.email, world.company_x.contact_email, world.am_a.email]
    )
    assert set(Notification.objects.filter(kind="reminder").values_list("recipient__username", flat=True)) == {
        "customer_x",
        "am_a",
    }


def test_suspended_moved_on_and_finished_visits_are_not_reminded(world, django_capture_on_commit_callbacks) -> None:
    suspended = intake_case(world)
    with freeze_time(ENTERED):
        core.case_transition(case=suspended, user=world.am_a, name="suspend", reason="客户系统升级")
    withdrawn = intake_case(world)
    with freeze_time(ENTERED):
        core.case_transition(case=withdrawn, user=world.am_a, name="withdraw", reason="客户撤回")
    late = intake_case(world)
    sweep(AT_2_0, django_capture_on_commit_callbacks)
    assert levels(suspended) == [] and levels(withdrawn) == []
    assert levels(late) == [1, 2, 3]


def test_a_failure_inside_the_sweep_leaves_nothing_claimed(
    world, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    case = intake_case(world)
    mail.outbox.clear()

    def broken(*args, **kwargs):
        raise RuntimeError("worker killed")

    # Dies after the claims, events, notices and mail rows are written, before the commit.
    monkeypatch.setattr(services.channels, "announce", broken)
    with pytest.raises(RuntimeError):
        sweep(AT_1_0, django_capture_on_commit_callbacks)
    assert levels(case) == [] and not mail.outbox
    monkeypatch.undo()
    sweep(AT_1_0, django_capture_on_commit_callbacks)  # the rerun (redelivered task) does it
    assert levels(case) == [1] and len(mail.outbox) == 1


def test_mail_survives_a_broker_outage_and_is_sent_once(world, django_capture_on_commit_callbacks, monkeypatch) -> None:

    case = intake_case(world)
    mail.outbox.clear()

    def down(*args, **kwargs):
        raise OperationalError("broker unreachable")

    from delivery.channels import send_rows

    monkeypatch.setattr(send_rows, "apply_async", down)
    sweep(AT_1_0, django_capture_on_commit_callbacks)
    assert levels(case) == [1] and not mail.outbox
    assert reminder_mail(case).sent_at is None
    monkeypatch.undo()
    with freeze_time(AT_1_0 + dt.timedelta(minutes=1)):
        assert outbox.outbox_flush() == 0  # too fresh: a worker may still have it
    with freeze_time(AT_1_0 + dt.timedelta(minutes=3)):
        assert outbox.outbox_flush() == 1
        assert outbox.outbox_flush() == 0
    assert len(mail.outbox) == 1
    # A redelivered send task (worker killed after the commit, before the ack) sends nothing.
    assert outbox.outbox_send(ids=list(OutboxEmail.objects.values_list("pk", flat=True))) == 0
    assert len(mail.outbox) == 1


def test_the_sweep_query_count_does_not_grow_with_cases(world, django_capture_on_commit_callbacks) -> None:
    def measure(n: int) -> int:
        for _ in range(n):
            intake_case(world)
        with freeze_time(AT_1_5), CaptureQueriesContext(connection) as ctx:
            result = services.reminders_sweep()
        assert len(result.claimed) == 2 * n
        return len(ctx.captured_queries)

    from workcalendar import workcal

    with freeze_time(AT_1_5):  # read once and then shared from the cache: warm it, measure the sweep
        workcal.calendar()
    few = measure(2)
    StageVisit.objects.filter(left_at__isnull=True).update(left_at=AT_1_5)  # close them: the next batch is alone
    many = measure(8)
    assert few == many


def test_the_management_command_runs_one_sweep(world, capsys) -> None:
    case = intake_case(world)
    mail.outbox.clear()
    with freeze_time(AT_1_0):
        call_command("sweep_stalled", "--send")
        call_command("sweep_stalled", "--send")
    out = capsys.readouterr().out
    assert "new reminders: 1" in out and "new reminders: 0" in out
    assert levels(case) == [1] and len(mail.outbox) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_on_postgresql_send_each_reminder_once(world) -> None:
    cases = [intake_case(world) for _ in range(15)]
    mail.outbox.clear()
    n = 4
    barrier = threading.Barrier(n)
    results: list[services.SweepResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            # freezegun is not thread-safe; the sweep takes its clock as an argument.
            results.append(services.reminders_sweep(now=AT_2_0))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    claimed = [pk for r in results for pk in r.claimed]
    assert len(claimed) == len(set(claimed)) == 3 * len(cases)
    assert Reminder.objects.count() == 3 * len(cases)
    assert Notification.objects.filter(kind="reminder").count() == 3 * len(cases)
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.REMINDER).count() == 3 * len(cases)
    assert len(mail.outbox) == 3 * len(cases)  # eager tasks in the test run: sent on commit


def test_the_event_notice_and_mail_of_a_reminder_say_what_was_sent_to_whom(
    world, django_capture_on_commit_callbacks
) -> None:
    """What the sweep records (the same on SQLite and, in one statement, on PostgreSQL)."""
    from companies.models import Enterprise

    Enterprise.objects.filter(pk=world.company_x.pk).update(name="甲公司 100%控股")
    with freeze_time(ENTERED):
        case = world.case(State.JOINT_TESTING)  # the customer holds the ball
    visit = case.current_visit
    visit.refresh_from_db()
    result = sweep(dt.datetime(2026, 6, 23, 10, 1, tzinfo=SH), django_capture_on_commit_callbacks)
    assert len(result.claimed) == 1 and result.emails == 1 and result.overdue >= 1
    reminder = Reminder.objects.get(case=case)
    assert (reminder.level, reminder.stage, reminder.visit_id) == (1, State.JOINT_TESTING, visit.pk)
    expected = sorted([world.customer_x.email, world.company_x.contact_email, world.am_a.email])
    event = CaseEvent.objects.get(case=case, kind=CaseEvent.Kind.REMINDER)
    assert event.name == "remind" and event.actor_id is None
    assert event.data == {
        "level": 1,
        "stage": State.JOINT_TESTING,
        "visit": visit.pk,
        "due_at": visit.due_at.astimezone(dt.UTC).isoformat(),
        "recipients": expected,
    }
    texts = set(Notification.objects.filter(case=case, kind="reminder").values_list("recipient__username", "text"))
    text = services.notice_template(stage=State.JOINT_TESTING, level=1) % {
        "ref": case.reference,
        "company": "甲公司 100%控股",
    }
    assert "100%控股" in text
    assert texts == {("customer_x", text), ("am_a", text)}
    assert reminder_mail(case).to == expected
    assert reminder_mail(case).payload == {"reminder": reminder.pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_sweep_runs_in_parts_at_once_each_on_its_own_connection(world, settings, monkeypatch) -> None:
    settings.REMINDER_SWEEP_PARTITIONS = 3
    cases = [intake_case(world) for _ in range(12)]
    visits = list(StageVisit.objects.filter(case__in=cases, left_at__isnull=True).values_list("pk", flat=True))
    assert {pk % 3 for pk in visits} == {0, 1, 2}  # every part has visits to sweep
    mail.outbox.clear()
    caller = threading.get_ident()
    ran: list[tuple[int, bool]] = []
    real = services._sweep_part

    def spy(plan, part, parts):
        ran.append((part, threading.get_ident() != caller and not connection.in_atomic_block))
        return real(plan, part, parts)

    monkeypatch.setattr(services, "_sweep_part", spy)
    result = services.reminders_sweep(now=AT_2_0)
    assert sorted(ran) == [(0, True), (1, True), (2, True)]  # three parts, none on the caller's thread
    assert result.overdue == len(cases)
    assert result.claimed == sorted(Reminder.objects.values_list("pk", flat=True))
    assert sorted(Reminder.objects.values_list("visit_id", "level")) == sorted(
        (v, lv) for v in visits for lv in (1, 2, 3)
    )
    assert Notification.objects.filter(kind="reminder").count() == 3 * len(cases)
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.REMINDER).count() == 3 * len(cases)
    assert result.emails == OutboxEmail.objects.filter(kind="reminder").count() == len(mail.outbox) == 3 * len(cases)
    assert services.reminders_sweep(now=AT_2_0).claimed == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_part_that_fails_leaves_its_visits_to_the_next_sweep_and_the_others_are_kept(
    world, settings, monkeypatch
) -> None:
    settings.REMINDER_SWEEP_PARTITIONS = 2
    cases = [intake_case(world) for _ in range(6)]
    visits = dict(StageVisit.objects.filter(case__in=cases, left_at__isnull=True).values_list("pk", "case_id"))
    real = services._sweep_part

    def second_part_dies(plan, part, parts):
        if part == 1:
            raise RuntimeError("connection lost")
        return real(plan, part, parts)

    monkeypatch.setattr(services, "_sweep_part", second_part_dies)
    with pytest.raises(RuntimeError):
        services.reminders_sweep(now=AT_1_0)
    swept = set(Reminder.objects.values_list("visit_id", flat=True))
    assert swept == {v for v in visits if v % 2 == 0}  # the first part committed on its own
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.REMINDER).count() == len(swept)
    monkeypatch.undo()
    result = services.reminders_sweep(now=AT_1_0)  # the next sweep
    assert len(result.claimed) == len(visits) - len(swept)
    assert sorted(Reminder.objects.values_list("visit_id", flat=True)) == sorted(visits)  # each visit once
    assert Notification.objects.filter(kind="reminder").count() == len(visits)
