"""Writes: the overdue sweep (claim, record, notify, queue mail), sending the outbox, reading notices."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
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
from branches.models import Branch
from branches.roles import Role
from casetypes import declaration
from notices import channels
from notices.models import Notification, OutboxEmail
from notices.outbox import outbox_dispatch, renderers
from onboarding import events
from onboarding.events import bulk_written
from onboarding.models import CaseEvent, StageVisit
from onboarding.states import CUSTOMER
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


def level_cutoffs(now: dt.datetime) -> dict[tuple[str, int], dt.datetime]:
    """For each stage and level, the due time before which a visit has reached that level at `now`.

    `reached_level` asks per visit how much working time has passed since its due time; turned
    around, every visit of a stage reaches a level exactly when its due time lies before one
    moment (`WorkCalendar.cutoff`). A few dozen moments, computed once, let one query decide
    the levels of every overdue visit.
    """
    today = timezone.localtime(now).date()
    cal = workcal.calendar(today - dt.timedelta(days=120), today)
    cutoffs: dict[tuple[str, int], dt.datetime] = {}
    for stage, days in workcal.sla_map().items():
        if not days:
            continue
        for level, fraction in LEVEL_LATENESS.items():
            cutoffs[(stage, int(level))] = cal.cutoff(now, math.ceil(fraction * days * workcal.DAY))
    return cutoffs


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
    """Open, running, overdue visits not yet escalated to the top (the sweep on SQLite).

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

    On PostgreSQL all of it is one statement (`_SWEEP_SQL`), run for parts of the visits at
    once (`_sweep_postgresql`): the levels due come from the cutoffs, the pairs already claimed
    are skipped by the unique index (an anti-join, so an idle sweep reads no rows into Python),
    and the events, notices and outbox rows are written from the claimed rows inside the
    database. Elsewhere (SQLite in development and tests) the same steps run in Python.
    """
    now = now or timezone.now()
    cutoffs = level_cutoffs(now)
    if connection.vendor == "postgresql":
        return _sweep_postgresql(now, cutoffs)
    result = SweepResult()
    visits = _overdue_visits(now)
    result.overdue = len(visits)
    if not visits:
        return result
    wanted: list[tuple[_Visit, int]] = []
    for visit in visits:
        reached = max(
            (lvl for lvl in Reminder.Level.values if (c := cutoffs.get((visit.stage, lvl))) and visit.due_at < c),
            default=0,
        )
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
        CaseEvent.objects.bulk_create(
            [
                CaseEvent(case_id=e[0], kind=e[1], name=e[2], data=e[3], created_at=e[4], from_state="", to_state="")
                for e in events
            ],
            batch_size=500,
        )
        # Webhooks hear of the reminders too (read back by the sweep's own timestamp, only if listened to).
        _announce_events_to_webhooks(now, {e[0] for e in events})
        Notification.objects.bulk_create(
            [Notification(recipient_id=n[0], case_id=n[1], kind=n[2], text=n[3], created_at=n[4]) for n in notices],
            batch_size=500,
        )
        OutboxEmail.objects.bulk_create(
            [
                OutboxEmail(
                    kind=o[0], key=o[1], payload=o[2], to=o[3], created_at=o[4], next_attempt_at=o[4], attempts=0
                )
                for o in outbox
            ],
            batch_size=500,
        )
        channels.announce(announced)
        result.claimed = [pk for pk, _visit_id, _level in mine]
        result.emails = len(outbox)
        if outbox:
            keys = [row[1] for row in outbox]
            transaction.on_commit(lambda: _dispatch_keys(keys))
    return result


def _claim(wanted: list[tuple[_Visit, int]], now: dt.datetime) -> list[tuple[int, int, int]]:
    """Insert the claim rows; return (id, visit_id, level) of those this call inserted (not PostgreSQL)."""
    token = uuid.uuid4()
    Reminder.objects.bulk_create(
        [
            Reminder(
                visit_id=v.pk,
                case_id=v.case_id,
                level=level,
                stage=v.stage,
                due_at=v.due_at,
                created_at=now,
                claim=token,
            )
            for v, level in wanted
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    return list(Reminder.objects.filter(claim=token).order_by("pk").values_list("pk", "visit_id", "level"))


# Every holder role a visit can have: the groups' recipients are worked out per (level, role,
# branch) once per sweep, in Python, and handed to the statement as a small JSON object.
HOLDER_ROLES = (*Role.values, CUSTOMER)

_SWEEP_SQL = """
WITH lv(stage, c1, c2, c3) AS (
    SELECT * FROM unnest(%(stages)s::text[], %(c1)s::timestamptz[], %(c2)s::timestamptz[], %(c3)s::timestamptz[])
),
reached AS (
    SELECT v.id, v.case_id, v.stage, v.due_at, v.holder_role,
           CASE WHEN v.due_at < lv.c3 THEN 3 WHEN v.due_at < lv.c2 THEN 2 WHEN v.due_at < lv.c1 THEN 1 END AS top
    FROM onboarding_stagevisit v JOIN lv ON lv.stage = v.stage
    WHERE v.left_at IS NULL AND v.paused_at IS NULL AND v.due_at < %(now)s AND v.due_at < lv.c1
      AND v.id %% %(parts)s = %(part)s
),
-- A sweep claims every level up to the one reached at once, so a visit whose highest level
-- reached is claimed has nothing left to claim: one probe of the unique index per visit.
due AS MATERIALIZED (
    SELECT r.id, r.case_id, r.stage, r.due_at, r.holder_role, l.level,
           (ARRAY[%(name1)s, %(name2)s, %(name3)s])[l.level] AS event_name
    FROM reached r CROSS JOIN LATERAL generate_series(1, r.top) AS l(level)
    WHERE NOT EXISTS (SELECT 1 FROM reminders_reminder x WHERE x.visit_id = r.id AND x.level = r.top)
      AND NOT EXISTS (SELECT 1 FROM reminders_reminder x WHERE x.visit_id = r.id AND x.level = l.level)
),
claimed AS (
    INSERT INTO reminders_reminder (visit_id, case_id, level, stage, due_at, created_at, claim)
    SELECT id, case_id, level, stage, due_at, %(now)s, %(token)s FROM due ORDER BY id, level
    ON CONFLICT (visit_id, level) DO NOTHING
    RETURNING id, visit_id, case_id, level, stage, due_at
),
info AS (
    SELECT c.id AS rid, c.visit_id, c.case_id, c.level, c.stage, c.due_at, d.holder_role, d.event_name,
           oc.branch_id, oc.enterprise_id, e.contact_email,
           oc.account_manager_id AS am_id, am.email AS am_email,
           c.level = 1 AND (d.holder_role = %(customer)s
                            OR (d.holder_role = %(am)s AND oc.account_manager_id IS NOT NULL)) AS own,
           -- The notice's text, filled in once per reminder (the bell, WeCom).
           replace(replace(%(texts)s::jsonb ->> (c.stage || '|' || c.level), chr(1), oc.reference),
                   chr(2), e.name) AS text
    FROM claimed c
    JOIN due d ON d.id = c.visit_id AND d.level = c.level
    JOIN onboarding_onboardingcase oc ON oc.id = c.case_id
    JOIN onboarding_enterprise e ON e.id = oc.enterprise_id
    LEFT JOIN accounts_user am ON am.id = oc.account_manager_id
),
-- Who to tell about the staff's levels: worked out in Python per (level, role, branch).
grp AS MATERIALIZED (
    SELECT g.key,
           ARRAY(SELECT jsonb_array_elements_text(g.value -> 0))::bigint[] AS ids,
           ARRAY(SELECT jsonb_array_elements_text(g.value -> 1)) AS emails
    FROM jsonb_each(%(groups)s::jsonb) g
),
-- Only the columns the writes below and the answer need: every one of them is read five times.
rcp AS MATERIALIZED (
    SELECT info.rid, info.visit_id, info.case_id, info.level, info.stage, info.due_at, info.event_name, info.text,
           g.ids, coalesce(g.emails, '{}') AS emails
    FROM info LEFT JOIN grp g ON g.key = (info.level || '|' || info.holder_role || '|' || info.branch_id)
    WHERE NOT info.own
    UNION ALL
    -- The case's own people at the first level: the company's users, its contact e-mail and
    -- the account manager when the customer holds the ball; the account manager when they do.
    SELECT info.rid, info.visit_id, info.case_id, info.level, info.stage, info.due_at, info.event_name, info.text,
           p.ids, coalesce(p.emails, '{}')
    FROM info CROSS JOIN LATERAL (
        SELECT array_agg(DISTINCT q.pk) FILTER (WHERE q.pk IS NOT NULL) AS ids,
               array_agg(DISTINCT (q.email COLLATE "C") ORDER BY (q.email COLLATE "C"))
                   FILTER (WHERE q.email <> '') AS emails
        FROM (
            SELECT u.id AS pk, u.email::text AS email FROM accounts_user u
             WHERE info.holder_role = %(customer)s AND u.enterprise_id = info.enterprise_id AND u.is_active
            UNION ALL
            SELECT NULL, info.contact_email WHERE info.holder_role = %(customer)s
            UNION ALL
            SELECT info.am_id, coalesce(info.am_email, '') WHERE info.am_id IS NOT NULL
        ) q
    ) p
    WHERE info.own
),
ev AS (
    INSERT INTO onboarding_caseevent (case_id, kind, name, data, created_at, from_state, to_state, reason)
    SELECT case_id, %(kind)s, event_name,
           jsonb_build_object(
               'level', level, 'stage', stage, 'visit', visit_id,
               'due_at', to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                         || CASE WHEN to_char(due_at, 'US') = '000000' THEN '' ELSE to_char(due_at, '.US') END
                         || '+00:00',
               'recipients', to_jsonb(emails)),
           %(now)s, '', '', ''
    FROM rcp ORDER BY rid
    RETURNING 1
),
nt AS (
    INSERT INTO notices_notification (recipient_id, case_id, kind, text, created_at)
    SELECT pk, rcp.case_id, 'reminder', left(rcp.text, 300), %(now)s
    FROM rcp CROSS JOIN LATERAL unnest(rcp.ids) AS pk
    RETURNING 1
),
ob AS (
    INSERT INTO notices_outboxemail (kind, key, payload, "to", created_at, next_attempt_at, attempts)
    SELECT 'reminder', 'reminder:' || rid, jsonb_build_object('reminder', rid), to_jsonb(emails), %(now)s, %(now)s, 0
    FROM rcp WHERE cardinality(emails) > 0
    RETURNING id
),
-- The claims as parallel arrays in reminder order (arrays cost less to build and read than
-- a JSON document of 100,000s of rows).
answer AS (
    SELECT coalesce(array_agg(rid ORDER BY rid), '{}') AS rids,
           coalesce(array_agg(case_id ORDER BY rid), '{}') AS case_ids,
           coalesce(array_agg(level ORDER BY rid), '{}') AS levels,
           coalesce(array_agg(text ORDER BY rid), '{}') AS texts
    FROM rcp
)
SELECT answer.rids, answer.case_ids, answer.levels, answer.texts,
       (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM ob),
       (SELECT count(*) FROM onboarding_stagevisit
         WHERE left_at IS NULL AND paused_at IS NULL AND due_at < %(now)s AND stage = ANY(%(stages)s::text[])
           AND id %% %(parts)s = %(part)s),
       (SELECT count(*) FROM ev) + (SELECT count(*) FROM nt)
FROM answer
"""


def _sweep_postgresql(now: dt.datetime, cutoffs: dict[tuple[str, int], dt.datetime]) -> SweepResult:
    """The sweep as one statement per partition of the visits (see `reminders_sweep`).

    The visits are cut into REMINDER_SWEEP_PARTITIONS parts by id, each swept by the same
    statement in its own transaction on its own connection, at the same time: the database
    writes and checks a large sweep's rows (50,000 overdue visits: 136,000 reminders, as many
    events, notices and mails, and the foreign-key checks of all of them at commit) on as many
    cores as there are parts. A part's claims, events, notices and mail commit together; the
    parts touch disjoint visits, so no part waits on another, and one that fails leaves its
    visits to the next sweep (the claims make every sweep exactly-once per visit and level).
    Inside a transaction (a caller's, or a test's) the parts run one after the other in it.
    """
    params = _sweep_params(now, cutoffs)
    parts = max(1, settings.REMINDER_SWEEP_PARTITIONS)
    if parts == 1 or connection.in_atomic_block:
        results = [_sweep_part(params, part, parts) for part in range(parts)]
    else:
        with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="sweep") as pool:
            results = list(pool.map(lambda part: _sweep_part_on_own_connection(params, part, parts), range(parts)))
    result = SweepResult()
    for r in results:
        result.overdue += r.overdue
        result.claimed.extend(r.claimed)
        result.emails += r.emails
    result.claimed.sort()
    return result


def _sweep_part_on_own_connection(params: dict[str, Any], part: int, parts: int) -> SweepResult:
    try:
        return _sweep_part(params, part, parts)
    finally:
        connection.close()  # this thread's own connection: nothing else will close it


def _sweep_params(now: dt.datetime, cutoffs: dict[tuple[str, int], dt.datetime]) -> dict[str, Any]:
    """The statement's parameters: the people to tell come from `_Directory`."""
    directory = _Directory(set())
    groups: dict[str, tuple[list[int], list[str]]] = {}
    for branch_id, path in Branch.objects.values_list("pk", "path"):
        for role in HOLDER_ROLES:
            for level in Reminder.Level.values:
                if level == Reminder.Level.REMIND and role == CUSTOMER:
                    continue  # the company's own people: read by the statement
                people = directory.recipients(_Visit(0, 0, "", now, role, 0, "", path, 0, "", "", None, None), level)
                if people:
                    groups[f"{level}|{role}|{branch_id}"] = (
                        sorted({p.pk for p in people if p.pk is not None}),
                        sorted({p.email for p in people if p.email}),
                    )
    texts = {
        f"{stage}|{level}": notice_template(stage=stage, level=level)
        .replace("%(ref)s", "\x01")
        .replace("%(company)s", "\x02")
        .replace("%%", "%")
        for stage, level in cutoffs
    }
    stages = sorted({stage for stage, _level in cutoffs})
    params: dict[str, Any] = {
        "stages": stages,
        **{f"c{level}": [cutoffs[(stage, level)] for stage in stages] for level in Reminder.Level.values},
        **{f"name{level}": LEVEL_EVENT_NAME[level] for level in Reminder.Level.values},
        "now": now,
        "token": uuid.UUID(int=0),  # RETURNING names our rows; the token is not needed
        "customer": CUSTOMER,
        "am": Role.ACCOUNT_MANAGER.value,
        "groups": json.dumps(groups, ensure_ascii=False),
        "texts": json.dumps(texts, ensure_ascii=False),
        "kind": CaseEvent.Kind.REMINDER.value,
    }
    return params


def _sweep_part(params: dict[str, Any], part: int, parts: int) -> SweepResult:
    """One part of the sweep: the visits whose id is `part` modulo `parts`, in one transaction."""
    now = params["now"]
    params = {**params, "part": part, "parts": parts}
    result = SweepResult()
    with transaction.atomic(), connection.cursor() as cursor:
        # PostgreSQL's JIT compiles a statement this size for seconds before running it in a
        # fraction of that (measured: idle sweep 4.3 s with, 0.25 s without).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")  # its sorts of 100,000s of rows stay in memory
        cursor.execute(_SWEEP_SQL, params)
        claimed, case_ids, levels, notice_texts, queued, overdue, _written = cursor.fetchone()
        if claimed:
            _announce_events_to_webhooks(now, set(case_ids))
            channels.announce(
                [
                    channels.Announcement(
                        key=f"reminder:{rid}",
                        kind=ANNOUNCEMENT_KIND[level],
                        case_id=case_id,
                        text=text,
                        head_office=level == Reminder.Level.HEAD_OFFICE,
                    )
                    for rid, case_id, level, text in zip(claimed, case_ids, levels, notice_texts, strict=True)
                ]
            )
        result.overdue = overdue
        result.claimed = list(claimed)
        result.emails = len(queued)
        if queued:
            transaction.on_commit(lambda: outbox_dispatch(ids=list(queued)))
    return result


def _announce_events_to_webhooks(now: dt.datetime, case_ids: set[int]) -> None:
    """Hand the sweep's bulk-inserted reminder events to the bulk listeners (webhooks).

    The queryset is lazy: it is read only when a listener needs it (an endpoint exists).
    """
    bulk_written(
        CaseEvent.objects.filter(kind=CaseEvent.Kind.REMINDER, created_at=now, case_id__in=case_ids).select_related(
            "case__branch"
        )
    )


def notice_template(*, stage: str, level: int) -> str:
    """The in-app notice for a stage and level, with %(ref)s and %(company)s still to fill in."""
    label = declaration.state_label(stage).replace("%", "%%")
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


def _dispatch_keys(keys: list[str]) -> None:
    """Queue the sweep's mail (SQLite path): look the new rows up by key."""
    ids = list(OutboxEmail.objects.filter(key__in=keys, sent_at__isnull=True).values_list("pk", flat=True))
    outbox_dispatch(ids=ids)


@renderers.add(key="reminder")
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
        "stage_zh": declaration.state_label(reminder.stage),
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
