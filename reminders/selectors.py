"""Reads: notices of a user, the bank/customer split of a case's time, calendar warnings."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from casetypes import declaration
from casetypes.declaration import Feature
from config.frozen import OWNER, frozen
from config.statements import read_cursor
from notices.models import Notification
from onboarding.models import OnboardingCase
from onboarding.states import Party
from workcalendar import workcal


def notification_list(*, user: Any, limit: int = 100) -> QuerySet[Notification]:
    return (
        Notification.objects.filter(recipient=user)
        .select_related("case")
        # What a line shows: the case only for its address.
        .only("kind", "text", "params", "created_at", "read_at", "cleared_at", "case__public_id")
        .order_by("-created_at", "-pk")[:limit]
    )


# A line of the notifications page: (pk, kind, text, params, created_at, read_at, cleared_at, case's public_id).
NOTICE_LINE = ("pk", "kind", "text", "params", "created_at", "read_at", "cleared_at", "case__public_id")


def notification_lines(*, user: Any, limit: int = 100) -> list[tuple[Any, ...]]:
    """`notification_list`'s notices as the page's lines need them (`NOTICE_LINE`), no model
    objects, by a statement compiled once per limit (issue 26: the ORM's building of it and two
    objects a line were most of the page's CPU)."""

    def build(owner: int) -> Any:
        qs = Notification.objects.filter(recipient_id=owner).order_by("-created_at", "-pk")
        return qs.values_list(*NOTICE_LINE)[:limit]

    return frozen(f"reminders.notification_lines:{limit}", build, [OWNER]).values(user.pk)


# The bell shows up to this many unread notices, then "99+".
BELL_LIMIT = 99


def unread_count(*, user: Any) -> int:
    """Unread notices counted up to BELL_LIMIT + 1 (a COUNT over a LIMIT along the unread index):
    someone with 40,000 unread notices costs the bell what someone with a hundred does."""
    if not getattr(user, "is_authenticated", False):
        return 0
    # The statement the ORM builds for `filter(recipient=user, read_at__isnull=True)[:100].count()`,
    # written once: the bell is on every page, and building it cost ~0.45 ms of CPU each time.
    # Prepared on its connection (`read_cursor`): found by the reader's id along the unread index,
    # the one plan for anyone (checked for the bench's reader with 29,543 unread notices).
    with read_cursor() as cursor:
        cursor.execute(_unread_sql(), [user.pk, BELL_LIMIT + 1])
        return int(cursor.fetchone()[0])


@functools.cache
def _unread_sql() -> str:
    q = connection.ops.quote_name
    meta = Notification._meta
    table, recipient, read_at = (
        q(meta.db_table),
        q(str(meta.get_field("recipient").column)),
        q(str(meta.get_field("read_at").column)),
    )
    inner = f"SELECT 1 FROM {table} WHERE {read_at} IS NULL AND {recipient} = %s LIMIT %s"  # noqa: S608 (names from the model)
    return f"SELECT COUNT(*) FROM ({inner}) AS {q('unread')}"  # noqa: S608 (names from the model)


@dataclass
class TimeSplit:
    bank_seconds: int
    customer_seconds: int

    @property
    def bank_days(self) -> float:
        return round(self.bank_seconds / workcal.DAY, 1)

    @property
    def customer_days(self) -> float:
        return round(self.customer_seconds / workcal.DAY, 1)

    @property
    def total_days(self) -> float:
        return round((self.bank_seconds + self.customer_seconds) / workcal.DAY, 1)


def _suspensions(case: OnboardingCase, now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    spans, start = [], None
    read = getattr(case, "sla_events", None)  # the case page has read these events already
    if read is not None:
        pairs = [(e.name, e.created_at) for e in read if e.kind == "transition" and e.name in ("suspend", "resume")]
    else:
        pairs = list(
            case.events.filter(kind="transition", name__in=["suspend", "resume"])
            .order_by("created_at", "pk")
            .values_list("name", "created_at")
        )
    for name, at in pairs:
        if name == "suspend":
            start = at
        elif start is not None:
            spans.append((start, at))
            start = None
    if start is not None:
        spans.append((start, now))
    return spans


def _timed(stage_code: str) -> bool:
    if stage_code not in declaration.initial_states():
        return True
    stage = declaration.stage(stage_code)
    return stage is not None and stage.timed


def case_time_split(*, case: OnboardingCase, now: dt.datetime | None = None) -> TimeSplit:
    """Working time since submission split by who held the ball: the bank or the customer.

    Suspended time counts for neither. In production verification the customer holds the
    ball until it confirms, the bank after.
    """
    now = now or timezone.now()
    # A draft (an untimed first stage) is before submission; a live link's request starts in a
    # timed stage (the account manager's review), which counts.
    visits = sorted((v for v in case.visits.all() if _timed(v.stage)), key=lambda v: (v.entered_at, v.pk))
    totals = {Party.BANK: 0, Party.CUSTOMER: 0}
    if not visits:
        return TimeSplit(0, 0)
    cal = workcal.calendar(timezone.localtime(visits[0].entered_at).date(), timezone.localtime(now).date())
    pauses = _suspensions(case, now)

    def worked(a: dt.datetime, b: dt.datetime) -> int:
        total = cal.working_seconds(a, b) if b > a else 0
        for p0, p1 in pauses:
            lo, hi = max(a, p0), min(b, p1)
            if hi > lo:
                total -= cal.working_seconds(lo, hi)
        return max(total, 0)

    confirming = declaration.states_with(Feature.CUSTOMER_CONFIRMATION)
    for v in visits:
        end = v.left_at or now
        confirmed = case.customer_confirmed_at
        if v.stage in confirming and confirmed and v.entered_at <= confirmed <= end:
            totals[Party.CUSTOMER] += worked(v.entered_at, confirmed)
            totals[Party.BANK] += worked(confirmed, end)
        else:
            totals[Party(v.holder_party)] += worked(v.entered_at, end)
    return TimeSplit(bank_seconds=totals[Party.BANK], customer_seconds=totals[Party.CUSTOMER])


def visit_lateness_days(*, case: OnboardingCase, now: dt.datetime | None = None) -> float | None:
    """How many working days the current stage is past its due time (None when not overdue)."""
    now = now or timezone.now()
    visit = case.current_visit
    if visit is None or not visit.is_overdue(now):
        return None
    assert visit.due_at is not None
    cal = workcal.calendar(timezone.localtime(visit.due_at).date(), timezone.localtime(now).date())
    return round(cal.working_seconds(visit.due_at, now) / workcal.DAY, 1)
