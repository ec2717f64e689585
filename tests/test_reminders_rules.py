"""The reminder rules, played as scenarios on both databases (reminders/sweep.py is their one definition).

Each scenario builds cases through the real services at frozen times and sweeps at stated
moments, saying once what each sweep must newly send: which level of which case, to whom. On
SQLite that is the whole test. On PostgreSQL every sweep also runs, from the same rows, on a
fresh in-memory SQLite database (`SqliteCopy`), and what the two databases wrote is compared
row for row: the claims, the case events, the in-app notices, the outbox mail, the
announcements to other channels and the sweep's counts.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.db.utils import load_backend
from freezegun import freeze_time

from api import services as api_services
from branches.models import Branch
from companies.models import Enterprise
from notices.models import Notification, OutboxEmail
from onboarding import services as core
from onboarding.models import CaseEvent, OnboardingCase, StageVisit
from onboarding.states import State
from reminders import services
from reminders.models import Reminder

SH = ZoneInfo("Asia/Shanghai")
CONTACT = "contact"  # the company's contact e-mail: mailed, no notice


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


# --- the scenarios: what each sweep newly sends, per named case: {level: who} ----------------


def scenario_levels_at_1x_1_5x_2x(world, play) -> None:
    """Branch intake, 5 working days from Monday 1 June 10:00: due Monday 8 June 10:00."""
    play.case("intake", world, State.BRANCH_INTAKE, at(2026, 6, 1, 10, 0))
    play.sweep(at(2026, 6, 5, 22, 0), {})  # 4.5 working days
    play.sweep(at(2026, 6, 8, 10, 1), {"intake": {1: {"am_a"}}})
    play.sweep(at(2026, 6, 10, 21, 59), {})
    play.sweep(at(2026, 6, 10, 22, 0), {"intake": {2: {"supervisor"}}})  # due + 2.5 working days
    play.sweep(at(2026, 6, 15, 9, 59), {})
    play.sweep(at(2026, 6, 15, 10, 0), {"intake": {3: {"approver"}}})  # due + 5 working days
    play.sweep(at(2026, 6, 30, 10, 0), {})  # nothing above head office


def scenario_working_days_skip_the_weekend_and_the_dragon_boat_holiday(world, play) -> None:
    """Entered Wednesday 17 June: Thu 18, (Fri 19 Dragon Boat, weekend), Mon 22 … Thu 25 June."""
    case = play.case("intake", world, State.BRANCH_INTAKE, at(2026, 6, 17, 10, 0))
    assert case.current_visit.due_at == at(2026, 6, 25, 10, 0)
    play.sweep(at(2026, 6, 24, 23, 59), {})  # Monday–Friday arithmetic would be overdue here
    play.sweep(at(2026, 6, 25, 10, 1), {"intake": {1: {"am_a"}}})
    # 1.5×: 2.5 working days after Thursday 10:00 is Monday 22:00 (the weekend does not count).
    play.sweep(at(2026, 6, 29, 21, 59), {})
    play.sweep(at(2026, 6, 29, 22, 0), {"intake": {2: {"supervisor"}}})


def scenario_the_customer_holds_the_ball(world, play) -> None:
    """Joint testing (15 working days, the customer holds it): its users, contact e-mail and account manager."""
    case = play.case("testing", world, State.JOINT_TESTING, at(2026, 6, 1, 10, 0))
    assert case.current_visit.due_at == at(2026, 6, 23, 10, 0)  # over the Dragon Boat holiday
    # A service account of the company (an API client) is no person: it is not told.
    api_services.api_client_create(name="ERP 接口", scopes=["read"], enterprise=world.company_x)
    play.sweep(at(2026, 6, 23, 9, 59), {})
    play.sweep(at(2026, 6, 23, 10, 1), {"testing": {1: {"customer_x", CONTACT, "am_a"}}})
    # 1.5× = 7.5 working days later: Thursday 2 July 22:00; 2× = 15: Tuesday 14 July 10:00.
    play.sweep(at(2026, 7, 2, 22, 0), {"testing": {2: {"supervisor"}}})
    play.sweep(at(2026, 7, 14, 10, 0), {"testing": {3: {"approver"}}})


def scenario_holders_at_tier_1_escalate_straight_to_head_office(world, play) -> None:
    """Head-office approval is held by branch supervisors: 1.5× goes to head office, not a level up."""
    play.case("approval", world, State.HEAD_OFFICE_APPROVAL, at(2026, 6, 1, 10, 0))
    play.case("ukey", world, State.UKEY_ISSUANCE, at(2026, 6, 1, 10, 0))  # the counter of branch A
    play.sweep(
        at(2026, 6, 8, 10, 1),
        {"approval": {1: {"supervisor"}}, "ukey": {1: {"maker"}}},
    )
    play.sweep(
        at(2026, 6, 10, 22, 0),
        {"approval": {2: {"approver"}}, "ukey": {2: {"supervisor"}}},
    )


def scenario_suspended_case_is_not_reminded_and_its_due_time_moves(world, play) -> None:
    case = play.case("paused", world, State.BRANCH_INTAKE, at(2026, 6, 1, 10, 0))
    with freeze_time(at(2026, 6, 2, 10, 0)):
        core.case_transition(case=case, user=world.am_a, name="suspend", reason="客户系统升级")
    play.sweep(at(2026, 6, 15, 10, 0), {})  # 2× past the old due time, but paused
    with freeze_time(at(2026, 6, 16, 10, 0)):
        case.refresh_from_db()
        core.case_transition(case=case, user=world.am_a, name="resume", reason="")
    # Ten working days paused (2–15 June) push the due time from 8 June to Tuesday 23 June.
    assert StageVisit.objects.get(case=case, left_at__isnull=True).due_at == at(2026, 6, 23, 10, 0)
    play.sweep(at(2026, 6, 23, 9, 59), {})
    play.sweep(at(2026, 6, 23, 10, 1), {"paused": {1: {"am_a"}}})


def scenario_visits_left_before_the_sweep_are_not_reminded(world, play) -> None:
    withdrawn = play.case("withdrawn", world, State.BRANCH_INTAKE, at(2026, 6, 1, 10, 0))
    with freeze_time(at(2026, 6, 5, 10, 0)):
        core.case_transition(case=withdrawn, user=world.am_a, name="withdraw", reason="客户撤回")
    play.case("late", world, State.BRANCH_INTAKE, at(2026, 6, 1, 10, 0))
    play.sweep(at(2026, 6, 15, 10, 0), {"late": {1: {"am_a"}, 2: {"supervisor"}, 3: {"approver"}}})


def scenario_an_outage_sends_every_missed_level_once(world, play) -> None:
    play.case("reminded", world, State.BRANCH_INTAKE, at(2026, 6, 1, 10, 0))
    play.sweep(at(2026, 6, 8, 10, 1), {"reminded": {1: {"am_a"}}})
    play.case("b", world, State.BRANCH_INTAKE, at(2026, 6, 1, 10, 0), company=world.company_y)
    # Nothing swept from 8 to 16 June: the reminded case gets 2 and 3, the other all three, once.
    play.sweep(
        at(2026, 6, 16, 10, 0),
        {
            "reminded": {2: {"supervisor"}, 3: {"approver"}},
            "b": {1: {"am_b"}, 2: {"supervisor_other"}, 3: {"approver"}},
        },
    )
    play.sweep(at(2026, 6, 16, 10, 0), {})
    play.sweep(at(2026, 6, 16, 11, 0), {})


SCENARIOS = [
    scenario_levels_at_1x_1_5x_2x,
    scenario_working_days_skip_the_weekend_and_the_dragon_boat_holiday,
    scenario_the_customer_holds_the_ball,
    scenario_holders_at_tier_1_escalate_straight_to_head_office,
    scenario_suspended_case_is_not_reminded_and_its_due_time_moves,
    scenario_visits_left_before_the_sweep_are_not_reminded,
    scenario_an_outage_sends_every_missed_level_once,
]


# --- playing them --------------------------------------------------------------------------


class Play:
    """Sweeps and checks; on PostgreSQL each sweep also runs on a SQLite copy and is compared."""

    def __init__(self, world, monkeypatch: pytest.MonkeyPatch, *, compare: bool) -> None:
        self.world = world
        self.compare = compare
        self.cases: dict[str, OnboardingCase] = {}
        self.sweeps = 0
        self.announced: list[Any] = []
        self.dispatched: list[int] = []
        monkeypatch.setattr(services.channels, "announce", lambda items: self.announced.extend(items))
        # Mail is sent by workers from the default database; the copy's outbox is compared, not sent.
        monkeypatch.setattr(services, "outbox_dispatch", lambda *, ids: self.dispatched.extend(ids))

    def case(self, name: str, world, state: str, when: dt.datetime, **kwargs: Any) -> OnboardingCase:
        with freeze_time(when):
            self.cases[name] = world.case(state, **kwargs)
        return self.cases[name]

    def sweep(self, when: dt.datetime, expected: dict[str, dict[int, set[str]]]) -> None:
        copy = SqliteCopy() if self.compare else None
        marks = _marks("default")
        self.announced.clear()
        result = services.reminders_sweep(now=when)
        written = _written("default", marks, result, self.announced)
        self.sweeps += 1
        self._check(written, expected, when)
        if copy is not None:
            with copy:
                self.announced.clear()
                result = services.reminders_sweep(now=when, using=copy.alias)
                on_sqlite = _written(copy.alias, copy.marks, result, self.announced)
            assert on_sqlite == written, f"SQLite and PostgreSQL differ at {when}"

    def _check(self, written: dict[str, Any], expected: dict[str, dict[int, set[str]]], when: dt.datetime) -> None:
        names = {case.pk: name for name, case in self.cases.items()}
        User = get_user_model()
        usernames = dict(User.objects.values_list("pk", "username"))
        emails = dict(User.objects.values_list("username", "email"))
        got: dict[str, dict[int, set[str]]] = {}
        for (_visit, level), (case_id, notified, to) in written["by_claim"].items():
            name = names[case_id]
            who = {usernames[pk] for pk in notified}
            got.setdefault(name, {})[level] = who | ({CONTACT} if len(to) > len({emails[u] for u in who}) else set())
            wanted = expected.get(name, {}).get(level, set())
            contact = [Enterprise.objects.get(cases__pk=case_id).contact_email] if CONTACT in wanted else []
            assert to == sorted({emails[u] for u in wanted - {CONTACT}} | set(contact)), (when, name, level)
        assert got == expected, when


def _marks(using: str) -> dict[str, int]:
    """The highest id of each table the sweep writes, before it runs."""
    return {
        model._meta.label: model._base_manager.using(using).order_by("-pk").values_list("pk", flat=True).first() or 0
        for model in (Reminder, CaseEvent, Notification, OutboxEmail)
    }


def _written(using: str, marks: dict[str, int], result: services.SweepResult, announced: list[Any]) -> dict[str, Any]:
    """What one sweep wrote, with the database's own reminder ids replaced by (visit, level)."""

    def new(model):
        return model._base_manager.using(using).filter(pk__gt=marks[model._meta.label]).order_by("pk")

    claims = {pk: (visit, level) for pk, visit, level in new(Reminder).values_list("pk", "visit_id", "level")}
    assert sorted(claims) == result.claimed
    reminders = sorted(new(Reminder).values_list("visit_id", "level", "case_id", "stage", "due_at", "created_at"))
    events = sorted(
        (
            e.case_id,
            e.kind,
            e.name,
            e.actor_id,
            e.from_state,
            e.to_state,
            e.reason,
            sorted(e.data.items()),
            e.created_at,
        )
        for e in new(CaseEvent)
    )
    notices = sorted(new(Notification).values_list("recipient_id", "case_id", "kind", "text", "created_at", "read_at"))
    mail = sorted(
        (claims[int(m.key.split(":")[1])], m.kind, claims[m.payload["reminder"]], m.to, m.attempts, m.sent_at)
        for m in new(OutboxEmail)
    )
    heard = sorted((claims[int(a.key.split(":")[1])], a.kind, a.case_id, a.text, a.head_office) for a in announced)
    # Who heard of each claim: its notices (one case has one open visit, so a sweep's notice
    # text names one claim) and its mail.
    claim_of = {(a.case_id, a.text): claims[int(a.key.split(":")[1])] for a in announced}
    by_claim = {(visit, level): (case_id, set(), []) for visit, level, case_id, *_ in reminders}
    for recipient, case_id, _kind, text, *_ in notices:
        by_claim[claim_of[(case_id, text)]][1].add(recipient)
    for visit_level, _kind, _payload, to, *_ in mail:
        by_claim[visit_level][2].extend(to)
    return {
        "counts": (result.overdue, len(result.claimed), result.emails),
        "reminders": reminders,
        "events": events,
        "notices": notices,
        "mail": mail,
        "announced": heard,
        "by_claim": by_claim,
    }


# The rows the sweep reads (besides the policy and the calendar, computed before either database runs).
INPUTS: list[Callable[[], Any]] = [
    lambda: Branch,
    lambda: Group,
    lambda: get_user_model(),
    lambda: get_user_model().groups.through,
    lambda: get_user_model()._meta.get_field("api_client").related_model,
    lambda: Enterprise,
    lambda: OnboardingCase,
    lambda: StageVisit,
    lambda: Reminder,
]
_template: sqlite3.Connection | None = None


class SqliteCopy:
    """A fresh in-memory SQLite database with every table, holding a copy of the sweep's input rows."""

    def __init__(self) -> None:
        global _template
        self.alias = "reminders_sqlite_copy"
        if _template is None:
            _template = sqlite3.connect(":memory:", check_same_thread=False)
            with self._opened() as conn:
                # Every table as the models declare it now, constraints and indexes included (the
                # sweep's ON CONFLICT needs the unique claim index). Not `migrate`: old data
                # migrations read the default database.
                with conn.schema_editor() as editor:
                    for model in apps.get_models():
                        if model._meta.managed and not model._meta.proxy:
                            editor.create_model(model)
                conn.connection.backup(_template)
        self._conn_cm = self._opened()
        conn = self._conn_cm.__enter__()
        _template.backup(conn.connection)
        with conn.constraint_checks_disabled():  # only the tables the sweep reads are copied
            for get_model in INPUTS:
                model = get_model()
                fields = [f for f in model._meta.concrete_fields]
                rows = list(model._base_manager.using("default").order_by("pk"))
                model._base_manager.using(self.alias).bulk_create(
                    [model(**{f.attname: getattr(row, f.attname) for f in fields}) for row in rows]
                )
        self.marks = _marks(self.alias)

    def _opened(self):
        alias = self.alias

        class Opened:
            def __enter__(self):
                settings_dict = {
                    **connections.settings["default"],
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": ":memory:",
                    "OPTIONS": {},
                    "TEST": {"NAME": None},
                }
                # Connected before it is named among the connections: the test case refuses
                # connections to databases it was not set up with, but not one made by the test.
                conn = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
                conn.ensure_connection()
                connections.settings[alias] = settings_dict
                connections[alias] = conn
                return conn

            def __exit__(self, *exc):
                connections[alias].close()
                del connections[alias]
                del connections.settings[alias]

        return Opened()

    def __enter__(self) -> SqliteCopy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._conn_cm.__exit__(*exc)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("scenario_"))
def test_the_reminder_rules(world, monkeypatch, scenario) -> None:
    """On SQLite: the expected sends. On PostgreSQL: those, and the same rows written by SQLite."""
    play = Play(world, monkeypatch, compare=connection.vendor == "postgresql")
    scenario(world, play)
    assert play.sweeps
