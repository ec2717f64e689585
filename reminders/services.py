"""Writes: the overdue sweep (claim, record, notify, queue mail), sending the outbox, reading notices."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.people import people_q
from branches.models import Branch
from branches.roles import Role
from casetypes import declaration
from notices import channels, kinds
from notices.models import OutboxEmail
from notices.outbox import outbox_dispatch, renderers
from onboarding.events import bulk_written
from onboarding.models import CaseEvent
from onboarding.states import CUSTOMER
from workcalendar import workcal

from . import sweep
from .models import Reminder
from .policy import Audience, Policy, reminder_policy


@dataclass
class SweepResult:
    overdue: int = 0
    claimed: list[int] = field(default_factory=list)  # Reminder ids this sweep inserted
    emails: int = 0


# The cutoff of a level a stage's case type does not declare: no due time lies before it.
NEVER = dt.datetime(1, 1, 2, tzinfo=dt.UTC)


def level_cutoffs(now: dt.datetime, policy: Policy | None = None) -> dict[tuple[str, int], dt.datetime]:
    """For each stage and level, the due time before which a visit has reached that level at `now`.

    A level fires once a visit is `lateness × SLA` of working time past its due time; turned
    around, every visit of a stage reaches a level exactly when its due time lies before one
    moment (`WorkCalendar.cutoff`). A few dozen moments, computed once, let one query decide
    the levels of every overdue visit.
    """
    policy = policy or reminder_policy()
    today = timezone.localtime(now).date()
    cal = workcal.calendar(today - dt.timedelta(days=120), today)
    cutoffs: dict[tuple[str, int], dt.datetime] = {}
    for stage, days in policy.sla_days.items():
        if not days:
            continue
        for level in policy.levels:
            share = policy.lateness[stage].get(level.level)
            cutoffs[(stage, level.level)] = (
                NEVER if share is None else cal.cutoff(now, math.ceil(share * days * workcal.DAY))
            )
    return cutoffs


def reminders_sweep(*, now: dt.datetime | None = None, using: str = DEFAULT_DB_ALIAS) -> SweepResult:
    """Send every reminder level that overdue visits have reached and nobody has sent yet.

    Exactly once per (visit, level), however often and however concurrently this runs: the
    unique Reminder row is the claim. Every sweep inserts its claims with ON CONFLICT DO
    NOTHING and goes on only with the rows it inserted itself (RETURNING). Case events, in-app
    notices and the mail outbox rows commit in the same transaction as the claims: a crash
    before the commit leaves nothing claimed, a crash after it leaves everything recorded and
    the mail waiting in the outbox.

    The rules are one chain of SQL relations (`sweep.relations`) that both databases run: on
    PostgreSQL as one statement, for parts of the visits at once (see below), so an idle sweep
    reads no rows into Python; on SQLite one statement per relation. Who is told per level,
    holder role and branch is worked out here once per sweep (`_Directory`). `using` names the
    database swept (tests sweep a SQLite copy beside PostgreSQL); the policy and the calendar
    are read as everywhere else.
    """
    now = now or timezone.now()
    policy = reminder_policy()
    cutoffs = level_cutoffs(now, policy)
    if not cutoffs:
        return SweepResult()
    vendor = connections[using].vendor
    dialect = sweep.Dialect(vendor)
    plan = _sweep_plan(now, cutoffs, policy, dialect, using)
    parts = max(1, settings.REMINDER_SWEEP_PARTITIONS) if vendor == "postgresql" else 1
    if parts == 1 or connections[using].in_atomic_block:
        results = [_sweep_part(plan, part, parts) for part in range(parts)]
    else:
        with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="sweep") as pool:
            results = list(pool.map(lambda part: _sweep_part_on_own_connection(plan, part, parts), range(parts)))
    result = SweepResult()
    for r in results:
        result.overdue += r.overdue
        result.claimed.extend(r.claimed)
        result.emails += r.emails
    result.claimed.sort()
    return result


# The parts of the visits (PostgreSQL): each swept by the same statement in its own
# transaction on its own connection, at the same time, so the database writes and checks a
# large sweep's rows (50,000 overdue visits: 136,000 reminders, as many events, notices and
# mails, and the foreign-key checks of all of them at commit) on as many cores as there are
# parts (REMINDER_SWEEP_PARTITIONS). The parts touch disjoint visits (id modulo the number of
# parts), so no part waits on another, and one that fails leaves its visits to the next sweep.
# Inside a transaction (a caller's, or a test's) the parts run one after the other in it.


@dataclass(frozen=True)
class _Plan:
    """One sweep's relations and parameters, shared by its parts."""

    now: dt.datetime
    policy: Policy
    using: str
    chain: list[sweep.Relation]
    params: dict[str, Any]


def _sweep_part_on_own_connection(plan: _Plan, part: int, parts: int) -> SweepResult:
    try:
        return _sweep_part(plan, part, parts)
    finally:
        connections[plan.using].close()  # this thread's own connection: nothing else will close it


# Every holder role a visit can have: the groups' recipients are worked out per (level, role,
# branch) once per sweep, in Python, and handed to the statement as a small JSON object.
HOLDER_ROLES = (*Role.values, CUSTOMER)
# Placeholders for the case's reference and company in the notice templates handed to SQL.
_REF, _COMPANY = "\x01", "\x02"


def _sweep_plan(
    now: dt.datetime, cutoffs: dict[tuple[str, int], dt.datetime], policy: Policy, d: sweep.Dialect, using: str
) -> _Plan:
    """The relations and their parameters: the people to tell come from `_Directory`."""
    conn = connections[using]
    directory = _Directory(using)
    groups: dict[str, tuple[list[int], list[str]]] = {}
    for branch_id, path in Branch.objects.using(using).values_list("pk", "path"):
        for role in HOLDER_ROLES:
            for level in policy.levels:
                if level.audience is Audience.HOLDERS and role == CUSTOMER:
                    continue  # the company's own people: read by the statement
                people = directory.recipients(level.audience, role, path, policy)
                if people:
                    groups[f"{level.level}|{role}|{branch_id}"] = (
                        sorted({pk for pk, _email in people if pk is not None}),
                        sorted({email for _pk, email in people if email}),
                    )
    stages = sorted({stage for stage, _level in cutoffs})
    ts = conn.ops.adapt_datetimefield_value
    params: dict[str, Any] = {
        "now": ts(now),
        # RETURNING names a sweep's own rows; the token records which sweep claimed them.
        "token": Reminder._meta.get_field("claim").get_db_prep_value(uuid.uuid4(), conn),
        "customer": CUSTOMER,
        "am": Role.ACCOUNT_MANAGER.value,
        "groups": json.dumps(groups, ensure_ascii=False),
        "kind": CaseEvent.Kind.REMINDER.value,
        "ref_mark": _REF,
        "company_mark": _COMPANY,
    }
    for i, stage in enumerate(stages):
        params[f"stage_{i}"] = stage
        for level in policy.levels:
            params[f"c{level.level}_{i}"] = ts(cutoffs[(stage, level.level)])
            params[f"text_{i}_{level.level}"] = (
                notice_template(stage=stage, level=level.level, policy=policy)
                .replace("%(ref)s", _REF)
                .replace("%(company)s", _COMPANY)
                .replace("%%", "%")
            )
    for level in policy.levels:
        params[f"event_{level.level}"] = level.event_name
    # The company's users that are people (not service accounts), as Django writes that query
    # for this database.
    users = get_user_model().objects.using(using).filter(people_q(), is_active=True, enterprise__isnull=False)
    people_sql, people_params = users.values_list("pk", "email", "enterprise_id").query.get_compiler(using).as_sql()
    for i, value in enumerate(people_params):
        params[f"people_{i}"] = value
    people_sql = _named(people_sql, "people")
    chain = sweep.relations(
        d,
        levels=policy.levels,
        n_stages=len(stages),
        people_sql=people_sql,
        people_columns=("id", "email", "enterprise_id"),
    )
    return _Plan(now=now, policy=policy, using=using, chain=chain, params=params)


def _named(sql: str, prefix: str) -> str:
    """Positional `%s` placeholders turned into `%(<prefix>_<i>)s` (the sweep's are named)."""
    pieces = sql.replace("%%", "\x00").split("%s")
    out = pieces[0]
    for i, piece in enumerate(pieces[1:]):
        out += f"%({prefix}_{i})s" + piece
    return out.replace("\x00", "%%")


def _sweep_part(plan: _Plan, part: int, parts: int) -> SweepResult:
    """One part of the sweep: the visits whose id is `part` modulo `parts`, in one transaction."""
    using = plan.using
    conn = connections[using]
    result = SweepResult()
    with transaction.atomic(using=using), conn.cursor() as cursor:
        answer = sweep.run(
            cursor, sweep.Dialect(conn.vendor), plan.chain, {**plan.params, "part": part, "parts": parts}
        )
        if answer.claims:
            _announce_events_to_webhooks(plan.now, {case_id for _rid, case_id, _level, _text in answer.claims}, using)
            levels = {level.level: level for level in plan.policy.levels}
            channels.announce(
                [
                    channels.Announcement(
                        key=f"reminder:{rid}",
                        kind=levels[level].announcement,
                        case_id=case_id,
                        text=text,
                        head_office=levels[level].audience is Audience.HEAD_OFFICE,
                    )
                    for rid, case_id, level, text in answer.claims
                ]
            )
        result.overdue = answer.overdue
        result.claimed = [rid for rid, _case_id, _level, _text in answer.claims]
        result.emails = len(answer.queued)
        if answer.queued:
            queued = answer.queued
            transaction.on_commit(lambda: outbox_dispatch(ids=queued), using=using)
    return result


def _announce_events_to_webhooks(now: dt.datetime, case_ids: set[int], using: str) -> None:
    """Hand the sweep's bulk-inserted reminder events to the bulk listeners (webhooks).

    The queryset is lazy: it is read only when a listener needs it (an endpoint exists).
    """
    bulk_written(
        CaseEvent.objects.using(using)
        .filter(kind=CaseEvent.Kind.REMINDER, created_at=now, case_id__in=case_ids)
        .select_related("case__branch")
    )


def notice_template(*, stage: str, level: int, policy: Policy | None = None) -> str:
    """The in-app notice for a stage and level, with %(ref)s and %(company)s still to fill in."""
    label = declaration.state_label(stage).replace("%", "%%")
    return str((policy or reminder_policy()).level(level).notice).replace("{stage}", label)


@kinds.renderers.add(key="reminder")
def render_reminder_notice(p: dict[str, Any]) -> str:
    """A reminder's notice in the reader's language (the sweep writes its parameters)."""
    return notice_template(stage=p["stage"], level=int(p["level"])) % {"ref": p["ref"], "company": p["company"]}


Person = tuple[int | None, str]  # (user id, e-mail)


class _Directory:
    """Who to tell at a level for a holder role at a branch: bank staff, read once per sweep.

    The case's own people (its company's users and contact e-mail, its account manager) are
    read by the statement itself (`sweep.relations`: the "own" recipients).
    """

    def __init__(self, using: str) -> None:
        self.by_role_path: dict[tuple[str, str], list[Person]] = defaultdict(list)
        staff = (
            get_user_model()
            .objects.using(using)
            .filter(people_q(), is_active=True, branch__isnull=False, groups__name__in=Role.values)
            .values_list("pk", "email", "branch__path", "groups__name")
        )
        for pk, email, path, role in staff:
            self.by_role_path[(role, path)].append((pk, email))

    @staticmethod
    def _ancestors(path: str) -> list[str]:
        """The branch's own path, then each level up to head office."""
        parts = path.strip("/").split("/")
        return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)]

    def _role_at(self, role: str, paths: Iterable[str]) -> list[Person]:
        return [p for path in paths for p in self.by_role_path.get((role, path), [])]

    def head_office(self, path: str) -> list[Person]:
        return self._role_at(Role.HEAD_OFFICE_APPROVER, self._ancestors(path)[-1:])

    def supervisors(self, role: str, path: str, policy: Policy) -> list[Person]:
        """The next level up: the nearest branch above the case's with a supervisor; head office at the top."""
        if role in policy.upper_roles:
            return self.head_office(path)
        for above in self._ancestors(path)[1:]:
            found = self._role_at(Role.BRANCH_SUPERVISOR, [above])
            if found:
                return found
        return self.head_office(path)

    def recipients(self, audience: Audience, role: str, path: str, policy: Policy) -> list[Person]:
        """The staff to tell; for the holders, those holding `role` at the branch and above (an
        account manager's case without one, or a bank role)."""
        if audience is Audience.HOLDERS:
            return self._role_at(role, self._ancestors(path))
        if audience is Audience.SUPERVISORS:
            return self.supervisors(role, path, policy)
        return self.head_office(path)


# --- the mail outbox -------------------------------------------------------------------------


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
