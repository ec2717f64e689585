"""Writes: the overdue sweep (claim, record, notify, queue mail), sending the outbox, reading notices."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.people import people_q
from branches.roles import Role
from notices import channels
from notices.models import Notification, OutboxEmail
from notices.outbox import outbox_dispatch, renderer
from onboarding import events
from onboarding.events import bulk_written
from onboarding.models import CaseEvent, StageVisit
from onboarding.states import CUSTOMER, State
from workcalendar import workcal

from .models import Reminder

log = logging.getLogger(__name__)

# Reminder level → how far past the due time it fires, as a fraction of the stage's SLA
# (1× SLA = at the due time, 1.5× = half an SLA later, 2× = a whole SLA later).
LEVEL_LATENESS = {Reminder.Level.REMIND: 0.0, Reminder.Level.ESCALATE: 0.5, Reminder.Level.HEAD_OFFICE: 1.0}
# The sweep writes its case events in bulk (one statement for thousands), with the names of
# the vocabulary (onboarding/events.py), one per level.
LEVEL_EVENT_NAME: dict[int, str] = {level: name.value for level, name in events.REMINDER_EVENTS.items()}
# Holders that already sit at tier-1 or head office escalate straight to head office.
UPPER_ROLES = frozenset({Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER})
OUTBOX_BATCH = 500
ANNOUNCEMENT_KIND: dict[int, str] = {
    Reminder.Level.REMIND: channels.AnnouncementKind.REMINDER,
    Reminder.Level.ESCALATE: channels.AnnouncementKind.ESCALATION,
    Reminder.Level.HEAD_OFFICE: channels.AnnouncementKind.HEAD_OFFICE_ESCALATION,
}


@dataclass
class SweepResult:
    overdue: int = 0
    claimed: list[int] = field(default_factory=list)  # Reminder ids this sweep inserted
    emails: int = 0


@dataclass(frozen=True)
class Person:
    pk: int | None
    email: str


def reached_level(*, lateness_seconds: int, sla_days: int) -> int:
    """The highest reminder level a visit `lateness_seconds` of working time past its due time has reached."""
    level = 0
    for lvl, fraction in LEVEL_LATENESS.items():
        if lateness_seconds >= fraction * sla_days * workcal.DAY:
            level = int(lvl)
    return level


@dataclass(slots=True)
class _Visit:
    """What the sweep needs of an overdue visit and its case: plain values, no model instances."""

    pk: int
    case_id: int
    stage: str
    due_at: dt.datetime
    holder_role: str
    last_level: int
    reference: str
    branch_path: str
    enterprise_id: int
    company: str
    contact_email: str
    am_id: int | None
    am_email: str | None


def _overdue_visits(now: dt.datetime) -> list[_Visit]:
    """The one query of the sweep: open, running, overdue visits not yet escalated to the top.

    It walks the partial index `open_visit_due_idx` (due_at WHERE left_at IS NULL), so its cost
    follows the number of overdue visits, not the number of cases; the highest level already
    sent comes from the unique (visit, level) index.
    """
    last = Reminder.objects.filter(visit=OuterRef("pk")).order_by("-level").values("level")[:1]
    rows = (
        StageVisit.objects.filter(left_at__isnull=True, paused_at__isnull=True, due_at__lt=now)
        .annotate(last_level=Subquery(last))
        .filter(Q(last_level__isnull=True) | Q(last_level__lt=Reminder.Level.HEAD_OFFICE))
        .order_by("due_at")
        .values_list(
            "pk",
            "case_id",
            "stage",
            "due_at",
            "holder_role",
            "last_level",
            "case__reference",
            "case__branch__path",
            "case__enterprise_id",
            "case__enterprise__name",
            "case__enterprise__contact_email",
            "case__account_manager_id",
            "case__account_manager__email",
        )
    )
    return [_Visit(*row[:5], row[5] or 0, *row[6:]) for row in rows]  # type: ignore[misc,arg-type]


def reminders_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Send every reminder level that overdue visits have reached and nobody has sent yet.

    Exactly once per (visit, level), however often and however concurrently this runs: the
    unique Reminder row is the claim. Every sweep inserts its claims with ON CONFLICT DO
    NOTHING and goes on only with the rows it inserted itself (RETURNING on PostgreSQL, its
    claim token elsewhere); a row another sweep inserted first, committed or not (PostgreSQL
    makes the second insert wait on the unique index), is not returned. Case events, in-app
    notices and the mail outbox rows commit in the same transaction as the claims: a crash
    before the commit leaves nothing claimed, a crash after it leaves everything recorded and
    the mail waiting in the outbox.
    """
    now = now or timezone.now()
    result = SweepResult()
    visits = _overdue_visits(now)
    result.overdue = len(visits)
    if not visits:
        return result
    sla = workcal.sla_map()
    cal = workcal.calendar(timezone.localtime(visits[0].due_at).date(), timezone.localtime(now).date())
    wanted: list[tuple[_Visit, int]] = []
    for visit in visits:
        days = sla.get(visit.stage)
        if not days:
            continue
        reached = reached_level(lateness_seconds=cal.working_seconds(visit.due_at, now), sla_days=days)
        wanted.extend((visit, level) for level in range(visit.last_level + 1, reached + 1))
    if not wanted:
        return result
    by_visit = {v.pk: v for v in visits}
    with transaction.atomic():
        mine = _claim(wanted, now)
        if not mine:
            return result
        directory = _Directory({by_visit[visit_id].enterprise_id for _pk, visit_id, _level in mine})
        texts: dict[tuple[str, int], str] = {}
        events: list[tuple[Any, ...]] = []
        notices: list[tuple[Any, ...]] = []
        outbox: list[tuple[Any, ...]] = []
        announced: list[channels.Announcement] = []
        for reminder_id, visit_id, level in mine:
            visit = by_visit[visit_id]
            people = directory.recipients(visit, level)
            emails = sorted({p.email for p in people if p.email})
            data = {
                "level": level,
                "stage": visit.stage,
                "visit": visit.pk,
                "due_at": visit.due_at.isoformat(),
                "recipients": emails,
            }
            events.append(
                (visit.case_id, CaseEvent.Kind.REMINDER.value, LEVEL_EVENT_NAME[level], data, now, "", "", "")
            )
            if (visit.stage, level) not in texts:
                texts[(visit.stage, level)] = notice_template(stage=visit.stage, level=level)
            text = texts[(visit.stage, level)] % {"ref": visit.reference, "company": visit.company}
            notices.extend(
                (pk, visit.case_id, "reminder", text[:300], now)
                for pk in sorted({p.pk for p in people if p.pk is not None})
            )
            if emails:
                outbox.append(("reminder", f"reminder:{reminder_id}", {"reminder": reminder_id}, emails, now, 0))
            announced.append(
                channels.Announcement(
                    key=f"reminder:{reminder_id}",
                    kind=ANNOUNCEMENT_KIND[level],
                    case_id=visit.case_id,
                    text=text,
                    head_office=level == Reminder.Level.HEAD_OFFICE,
                )
            )
        _insert(
            CaseEvent, ["case_id", "kind", "name", "data", "created_at", "from_state", "to_state", "reason"], events
        )
        # Webhooks hear of the reminders too (read back by the sweep's own timestamp, only if listened to).
        bulk_written(
            CaseEvent.objects.filter(
                kind=CaseEvent.Kind.REMINDER, created_at=now, case_id__in={row[0] for row in events}
            ).select_related("case__branch")
        )
        _insert(Notification, ["recipient_id", "case_id", "kind", "text", "created_at"], notices)
        queued = _insert(
            OutboxEmail, ["kind", "key", "payload", "to", "created_at", "attempts"], outbox, "RETURNING id"
        )
        channels.announce(announced)
        result.claimed = [pk for pk, _visit_id, _level in mine]
        result.emails = len(outbox)
        if outbox:
            keys = [row[1] for row in outbox]
            transaction.on_commit(lambda: _dispatch_keys(keys, queued))
    return result


def _claim(wanted: list[tuple[_Visit, int]], now: dt.datetime) -> list[tuple[int, int, int]]:
    """Insert the claim rows; return (id, visit_id, level) of those this call inserted."""
    rows = [(v.pk, v.case_id, level, v.stage, v.due_at, now) for v, level in wanted]
    if connection.vendor == "postgresql":
        token = uuid.UUID(int=0)  # RETURNING names our rows; the token is not needed
        columns = ["visit_id", "case_id", "level", "stage", "due_at", "created_at", "claim"]
        returned = _insert(
            Reminder,
            columns,
            [(*row, token) for row in rows],
            suffix="ON CONFLICT (visit_id, level) DO NOTHING RETURNING id, visit_id, level",
        )
        return sorted(returned)
    token = uuid.uuid4()
    Reminder.objects.bulk_create(
        [
            Reminder(visit_id=r[0], case_id=r[1], level=r[2], stage=r[3], due_at=r[4], created_at=r[5], claim=token)
            for r in rows
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    return list(Reminder.objects.filter(claim=token).order_by("pk").values_list("pk", "visit_id", "level"))


def _insert(model: Any, fields: list[str], rows: list[tuple[Any, ...]], suffix: str = "") -> list[tuple[Any, ...]]:
    """Insert many rows in one statement.

    On PostgreSQL one INSERT … SELECT FROM unnest(arrays): a sweep writes tens of thousands of
    rows and building model instances and per-row placeholders would cost seconds. Elsewhere
    (SQLite in development and tests) the ORM's bulk_create.
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=500)
        return []
    from psycopg import Cursor
    from psycopg.types.json import Jsonb

    meta = model._meta
    cols, casts, arrays = [], [], []
    for i, name in enumerate(fields):
        f = meta.get_field(name.removesuffix("_id")) if name.endswith("_id") else meta.get_field(name)
        target = f.target_field if f.is_relation else f
        cols.append(connection.ops.quote_name(f.column))
        casts.append(f"%b::{target.cast_db_type(connection)}[]")
        is_json = target.get_internal_type() == "JSONField"
        arrays.append([Jsonb(row[i]) if is_json else row[i] for row in rows])
    # Table and column names come from the model, values go as parameters.
    table = connection.ops.quote_name(meta.db_table)
    head = f"INSERT INTO {table} ({', '.join(cols)})"
    sql = f"{head} SELECT * FROM unnest({', '.join(casts)}) {suffix}"  # noqa: S608
    # Django's own cursors bind parameters client-side (the arrays would be quoted into the
    # SQL text in Python); a server-binding cursor on the same connection and transaction
    # sends them as binary arrays. Wrapped like Django's so query logging and counting see it.
    connection.ensure_connection()
    raw = Cursor(connection.connection)
    cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)  # type: ignore[arg-type]
    with cursor:
        cursor.execute(sql, arrays)
        return [tuple(r) for r in cursor.fetchall()] if "RETURNING" in suffix else []


def notice_template(*, stage: str, level: int) -> str:
    """The in-app notice for a stage and level, with %(ref)s and %(company)s still to fill in."""
    label = str(State(stage).label).replace("%", "%%")
    if level == Reminder.Level.REMIND:
        text = _("%(ref)s %(company)s:{stage}已超过办理时限")
    elif level == Reminder.Level.ESCALATE:
        text = _("督办:%(ref)s %(company)s 在{stage}阶段已超时1.5倍")
    else:
        text = _("总行督办:%(ref)s %(company)s 在{stage}阶段已超时2倍")
    return text.replace("{stage}", label)


class _Directory:
    """Who to tell, for a batch of reminders, in two queries.

    Bank staff are read once (their number does not grow with cases); enterprise users only
    for the companies in the batch.
    """

    def __init__(self, enterprise_ids: set[int]) -> None:
        User = get_user_model()
        self.by_role_path: dict[tuple[str, str], list[Person]] = defaultdict(list)
        staff = User.objects.filter(
            people_q(), is_active=True, branch__isnull=False, groups__name__in=Role.values
        ).values_list("pk", "email", "branch__path", "groups__name")
        for pk, email, path, role in staff:
            self.by_role_path[(role, path)].append(Person(pk, email))
        self.customers: dict[int, list[Person]] = defaultdict(list)
        for pk, email, enterprise_id in User.objects.filter(
            people_q(), is_active=True, enterprise_id__in=enterprise_ids
        ).values_list("pk", "email", "enterprise_id"):
            self.customers[enterprise_id].append(Person(pk, email))

    @staticmethod
    def _ancestors(path: str) -> list[str]:
        """The branch's own path, then each level up to head office."""
        parts = path.strip("/").split("/")
        return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)]

    def _role_at(self, role: str, paths: Iterable[str]) -> list[Person]:
        return [p for path in paths for p in self.by_role_path.get((role, path), [])]

    def holders(self, visit: _Visit) -> list[Person]:
        if visit.holder_role == CUSTOMER:
            people = list(self.customers.get(visit.enterprise_id, []))
            if visit.contact_email:
                people.append(Person(None, visit.contact_email))
            # The account manager chases the customer, so hears of it too.
            if visit.am_id is not None:
                people.append(Person(visit.am_id, visit.am_email or ""))
            return people
        if visit.holder_role == Role.ACCOUNT_MANAGER and visit.am_id is not None:
            return [Person(visit.am_id, visit.am_email or "")]
        return self._role_at(visit.holder_role, self._ancestors(visit.branch_path))

    def head_office(self, visit: _Visit) -> list[Person]:
        return self._role_at(Role.HEAD_OFFICE_APPROVER, self._ancestors(visit.branch_path)[-1:])

    def supervisors(self, visit: _Visit) -> list[Person]:
        """The next level up: the nearest branch above the case's with a supervisor; head office at the top."""
        if visit.holder_role in UPPER_ROLES:
            return self.head_office(visit)
        for path in self._ancestors(visit.branch_path)[1:]:
            found = self._role_at(Role.BRANCH_SUPERVISOR, [path])
            if found:
                return found
        return self.head_office(visit)

    def recipients(self, visit: _Visit, level: int) -> list[Person]:
        if level == Reminder.Level.REMIND:
            return self.holders(visit)
        if level == Reminder.Level.ESCALATE:
            return self.supervisors(visit)
        return self.head_office(visit)


# --- the mail outbox -------------------------------------------------------------------------


def _dispatch_keys(keys: list[str], returned: list[tuple[Any, ...]]) -> None:
    """Queue the sweep's mail: PostgreSQL returned the new row ids, elsewhere look them up by key."""
    ids = [row[0] for row in returned]
    if not ids:
        ids = list(OutboxEmail.objects.filter(key__in=keys, sent_at__isnull=True).values_list("pk", flat=True))
    outbox_dispatch(ids=ids)


@renderer("reminder")
def _render_reminder(row: OutboxEmail) -> tuple[str, str]:
    reminder = Reminder.objects.select_related("case__enterprise", "case__branch", "visit").get(
        pk=row.payload["reminder"]
    )
    return reminder_email(reminder)


def reminder_email(reminder: Reminder) -> tuple[str, str]:
    """Subject and body, Chinese first then English (templates/reminders/email/)."""
    case = reminder.case
    context: dict[str, Any] = {
        "reminder": reminder,
        "case": case,
        "stage_zh": State(reminder.stage).label,
        "stage_en": reminder.stage.replace("_", " "),
        "due_at": timezone.localtime(reminder.due_at),
        "site_url": settings.SITE_URL,
    }
    subject = render_to_string("reminders/email/reminder_subject.txt", context).strip()
    body = (
        render_to_string("reminders/email/reminder.zh.txt", context).strip()
        + "\n\n----------------------------------------\n\n"
        + render_to_string("reminders/email/reminder.en.txt", context).strip()
        + "\n"
    )
    return subject, body
