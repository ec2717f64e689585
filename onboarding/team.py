"""A branch supervisor's view of his team: who holds which open cases of his subtree, what is stuck.

One row per account manager of the subtree (the cases they manage: held by them, waiting on
the customer, overdue, the one waiting longest) and one per other holder of the subtree's cases
(a role at a branch: the counter of an outlet, the supervisors, head office). A fixed number of
queries whatever the number of cases: on PostgreSQL one statement over the kept tables (the
groups' counts from `TeamCount`, each group's longest-waiting case and overdue count from
`OpenStage`'s index; both kept by triggers); elsewhere one grouped read of the cases (window
functions); then the subtree's staff.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape  # Django's escape is this one behind a lazy-string wrapper
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When, Window
from django.db.models.functions import RowNumber
from django.urls import get_script_prefix, reverse
from django.utils import formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext, pgettext

from accounts.people import people_q
from branches.models import Branch, BranchLevel
from branches.roles import Role
from branches.scope import subtree_q
from casetypes import declaration
from config.statements import read_cursor
from config.usercache import kept
from workcalendar import workcal

from .models import OnboardingCase
from .queue import from_micros, micros
from .selectors import stage_counts
from .states import CUSTOMER, WORKING_STAGES

UPPER_ROLES = (Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER)


@dataclass
class Oldest:
    reference: str
    public_id: Any
    entered_at: dt.datetime
    due_at: dt.datetime | None


@dataclass
class TeamRow:
    who: str  # the person, or the people holding a role at a branch
    role: str  # the role (and branch) they hold the cases as
    held: int = 0  # open cases waiting on them
    overdue: int = 0
    with_customer: int = 0  # their cases waiting on the customer (account managers)
    oldest: Oldest | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the case list's filter for these cases
    states: set[str] = field(default_factory=set)
    person: str = ""  # an account manager's row: whose work can be handed on (username)

    @property
    def url(self) -> str:
        return _list_url(**self._url_params())

    @property
    def overdue_url(self) -> str:
        return _list_url(**self.params, overdue="on")

    def _url_params(self) -> dict[str, Any]:
        params = dict(self.params)
        if "account_manager" not in params and len(self.states) == 1:
            params["state"] = next(iter(self.states))
        return params

    def take(self, row: Mapping[str, Any]) -> None:
        self.held += row["n"]
        self.overdue += row["late"]
        self.states.add(row["state"])
        if row["reference"] is None:
            return  # no longest-waiting case found for its count (the kept tables would disagree)
        if self.oldest is None or row["current_visit__entered_at"] < self.oldest.entered_at:
            self.oldest = Oldest(
                row["reference"], row["public_id"], row["current_visit__entered_at"], row["current_visit__due_at"]
            )


@dataclass(frozen=True)
class _Words:
    """The team table's words in one language: role labels (by role), the list separator, head
    office's name and the body's texts, escaped where the body writes them as they are."""

    roles: dict[str, str]
    separator: str
    head_office: str
    since: str
    hand_on: str
    late_text: str


@functools.lru_cache(maxsize=8)
def _words(language: str | None) -> _Words:
    """Once per language and process: they were ~25 catalogue look-ups a table (a role's label
    per row and manager, the separator per holder)."""
    return _Words(
        roles={role: str(label) for role, label in Role.choices},
        separator=pgettext("list separator", "、"),
        head_office=str(BranchLevel.HEAD_OFFICE.label),
        since=escape(gettext("进入本阶段")),
        hand_on=escape(gettext("转交")),
        late_text=gettext("已超时 %(late_days)s 个工作日"),
    )


@functools.lru_cache(maxsize=8)
def _case_list_path(prefix: str) -> str:
    return reverse("case_list")  # once per script prefix: two links a row


@functools.lru_cache(maxsize=1024)
def _work_path(prefix: str, username: str) -> str:
    return reverse("people:work", args=[username])  # once per person and script prefix


def _list_url(**params: Any) -> str:
    return _list_url_of(get_script_prefix(), tuple(params.items()))


@functools.lru_cache(maxsize=4096)
def _list_url_of(prefix: str, params: tuple[tuple[str, Any], ...]) -> str:
    """Once per filter and script prefix: a team table writes two or three a row (33 `urlencode`
    calls a supervisor's dashboard); the filters are ids and states, a few hundred in a bank."""
    query = urlencode({k: v for k, v in params if v})
    return _case_list_path(prefix) + (f"?{query}" if query else "")


@functools.lru_cache(maxsize=4096)
def _list_href(prefix: str, params: tuple[tuple[str, Any], ...]) -> str:
    """`_list_url_of` escaped for an attribute, once per filter and script prefix."""
    return escape(_list_url_of(prefix, params))


def team_overview(*, user: Any) -> list[TeamRow]:
    """The supervisor's subtree: one row per holder, most overdue first."""
    return team_and_overdue(user=user)[0]


def team_and_overdue(*, user: Any) -> tuple[list[TeamRow], int]:
    """The team's rows and how many of the subtree's cases are overdue, from the same read."""
    rows, overdue, _stages = team_figures(user=user)
    return rows, overdue


def team_figures(*, user: Any) -> tuple[list[TeamRow], int, dict[str, int]]:
    """The team's rows, how many of the subtree's cases are overdue and how many it has in each
    state (`selectors.stage_counts`), for the supervisor's dashboard: on PostgreSQL one statement.

    The overdue figure is `selectors.overdue_count`'s for a reader whose scope is this subtree
    (a staff member with a role at the branch): the cases read here are the subtree's open ones,
    each group's `late` counts its overdue ones (the case list's overdue filter), and every case
    belongs to one group, so the groups' sum is exact. The dashboard then reads the subtree's open
    cases once instead of twice."""
    if user.branch_id is None:
        return [], 0, {}
    now = timezone.now()
    open_states = (*declaration.initial_states(), *WORKING_STAGES)
    if connection.vendor == "postgresql":
        rows, stages = _groups_and_stages_kept(user.branch, open_states, now)
    else:
        rows, stages = _groups_counted(user.branch, open_states, now), stage_counts(user=user)
    overdue_total = sum(row["late"] for row in rows)
    words = _words(get_language())
    initial = frozenset(declaration.initial_states())
    staff: dict[tuple[str, int], list[str]] = {}
    managers: dict[int, TeamRow] = {}
    manager_label = words.roles[Role.ACCOUNT_MANAGER]
    for pk, username, display_name, branch_id, branch_name, role in _staff(user.branch):
        staff.setdefault((role, branch_id), []).append(display_name or username)
        if role == Role.ACCOUNT_MANAGER:
            managers[pk] = TeamRow(
                who=display_name or username,
                role=f"{manager_label} · {branch_name}",
                params={"account_manager": pk},
                person=username,
            )
    holders: dict[tuple[str, int | None], TeamRow] = {}
    for row in rows:
        role = row["current_visit__holder_role"]
        if row["state"] in initial:
            role = Role.ACCOUNT_MANAGER
        am = managers.get(row["account_manager_id"])
        if role == CUSTOMER:
            if am is not None:
                am.with_customer += row["n"]
            continue
        if role == Role.ACCOUNT_MANAGER:
            if am is not None:
                am.take(row)
            continue
        where = _holder_branch(role, row)
        key = (role, where[0] if where is not None else None)
        if key not in holders:
            label = words.roles.get(role, role)
            names = staff.get((role, where[0]), []) if where is not None else []
            holders[key] = TeamRow(
                who=words.separator.join(names) if names else ("—" if where else words.head_office),
                role=label if where is None else f"{label} · {where[1]}",
                params={"branch": where[0]} if where is not None else {},
            )
        holders[key].take(row)
    result = list(managers.values()) + list(holders.values())
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    ordered = sorted(result, key=lambda r: (-r.overdue, r.oldest.entered_at if r.oldest else far, r.who))
    return ordered, overdue_total, stages


# A branch path that no branch has: where the subtree's pattern sits in the staff statement.
_PATH_SLOT = "/\x00team\x00/"


_SUBTREE_IN = re.compile(
    r'("accounts_user"\."branch_id") IN \((SELECT U0\."id" AS "pk" FROM "branches_branch" U0 WHERE [^()]*)\)'
)


@functools.cache
def _people_statement(vendor: str) -> tuple[str, tuple[Any, ...], int]:
    """The subtree's staff statement as the ORM builds it, built once per process (building it
    cost about a millisecond of CPU a page): its SQL, its parameters and which one is the
    subtree's pattern (`subtree_q` of a branch at `_PATH_SLOT`)."""
    people = (
        get_user_model()
        .objects.filter(subtree_q("branch", Branch(path=_PATH_SLOT)), is_active=True, groups__name__in=Role.values)
        .filter(people_q())  # an API client's service account is not on the team
        .values_list("pk", "username", "display_name", "branch_id", "branch__name", "groups__name")
        .order_by("username")
    )
    sql, params = people.query.sql_with_params()
    if vendor == "postgresql":
        # The subtree's branches as an array read once (an init plan), not a semi-join: half the
        # planning (~0.5 ms of 1 ms) for the same rows. Left as the ORM wrote it if it reads otherwise.
        sql = _SUBTREE_IN.sub(r"\1 = ANY(ARRAY(\2))", sql, count=1)
    slot = [i for i, p in enumerate(params) if isinstance(p, str) and _PATH_SLOT in p]
    if len(slot) != 1:
        raise RuntimeError("the staff statement names the subtree's pattern once")
    return sql, tuple(params), slot[0]


# What the staff statement reads, but for `api_apiclient`: a user becomes a service account only
# when its API client is made, with the user, in one transaction (`api.services`), and the admin
# shows API clients read-only, so the people of a subtree change with these tables alone.
_STAFF_TABLES = ("accounts_user", "accounts_user_groups", "auth_group", "branches_branch")


def _staff(branch: Any) -> list[tuple[Any, ...]]:
    """`_people(branch)`, kept in Redis while the people and branches are unchanged
    (`config.usercache.kept`, as the case list's filter options): a statement of ~0.5 ms on every
    supervisor's dashboard for a list that changes when a person or a branch does."""
    return kept(f"team-staff:v1:{branch.pk}:{branch.path}", _STAFF_TABLES, lambda: _people(branch))


def _people(branch: Any) -> list[tuple[Any, ...]]:
    """The subtree's active staff with a role, by username: (pk, username, display name, branch
    id, branch name, role), one row a role."""
    sql, template, slot = _people_statement(connection.vendor)
    params = list(template)
    params[slot] = template[slot].replace(_PATH_SLOT, connection.ops.prep_for_like_query(branch.path))
    # Prepared on its connection (`read_cursor`) when the subtree is an init plan, read before any
    # row is found: the plan is then the same for every branch (README, "Prepared reads").
    with read_cursor() if "= ANY(ARRAY(" in sql else connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _groups_counted(branch: Any, open_states: tuple[str, ...], now: dt.datetime) -> list[dict[str, Any]]:
    """The subtree's open cases grouped by (account manager, holder, branch, state): each group's
    count, overdue count and longest-waiting case (window functions over every open case)."""
    late = Q(
        current_visit__left_at__isnull=True,
        current_visit__paused_at__isnull=True,
        current_visit__due_at__lt=now,
        state__in=WORKING_STAGES,
    )
    group = [F("account_manager_id"), F("current_visit__holder_role"), F("branch_id"), F("state")]
    rows: list[Any] = list(
        OnboardingCase.objects.filter(subtree_q("branch", branch), current_visit__isnull=False)
        .filter(state__in=open_states)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=group, order_by=[F("current_visit__entered_at").asc(), F("pk").asc()]
            ),
            n=Window(Count("pk"), partition_by=group),
            late=Window(
                Sum(Case(When(late, then=Value(1)), default=Value(0), output_field=IntegerField())), partition_by=group
            ),
        )
        .filter(rank=1)
        .values(
            "account_manager_id",
            "current_visit__holder_role",
            "branch_id",
            "branch__name",
            "branch__level",
            "branch__parent_id",
            "branch__parent__name",
            "state",
            "reference",
            "public_id",
            "current_visit__entered_at",
            "current_visit__due_at",
            "n",
            "late",
        )
    )
    return rows


# One group of `OpenStage` rows: in `TeamCount` (the case's branch, state, account manager and
# holder), `open_stage_group_idx` giving its first entry and its overdue rows (the index alone).
# A group of cases without an account manager is read by the second half of each sum or union.
_GROUP_ROWS = """o.branch_id = t.branch_id AND o.state = t.state AND o.holder_role = t.holder_role
                 AND o.account_manager_id {manager}"""
_SAME_MANAGER = _GROUP_ROWS.format(manager="= t.account_manager_id")
_NO_MANAGER = _GROUP_ROWS.format(manager="IS NULL AND t.account_manager_id IS NULL")
_LATE = "o.left_at IS NULL AND o.paused_at IS NULL AND o.due_at < %(now)s"
# Only the groups a row shows a longest-waiting case for: not those the customer holds (an
# account manager's row counts them as with the customer), but a first stage's (the manager's).
_SHOWN = "(t.holder_role <> %(customer)s OR t.state = ANY(%(initial)s))"
_FIRST = """SELECT o.case_id, o.entered_at, o.due_at FROM onboarding_openstage o
                WHERE {rows} AND {shown} ORDER BY o.entered_at, o.case_id LIMIT 1"""
_SUBTREE = "= ANY(ARRAY(SELECT s.id FROM branches_branch s WHERE s.path LIKE %(subtree)s))"
# The groups first (part 0, by their first entry), then the subtree's cases per state (part 1:
# `selectors.STAGE_COUNTS_SQL`'s `StageCount` rows summed, which the dashboard shows beside the
# table), read in the same statement.
TEAM_GROUPS_SQL = f"""
   (SELECT 0, t.account_manager_id, t.holder_role, t.branch_id, t.state, t.n,
           CASE WHEN t.state = ANY(%(working)s) THEN
               (SELECT COUNT(*) FROM onboarding_openstage o WHERE {_SAME_MANAGER} AND {_LATE})
               + (SELECT COUNT(*) FROM onboarding_openstage o WHERE {_NO_MANAGER} AND {_LATE})
           ELSE 0 END,
           c.reference, c.public_id, {micros("f.entered_at")}, {micros("f.due_at")}, b.name, b.level, b.parent_id, p.name,
           f.case_id
      FROM onboarding_teamcount t
      JOIN branches_branch b ON b.id = t.branch_id
      LEFT JOIN branches_branch p ON p.id = b.parent_id
      LEFT JOIN LATERAL (({_FIRST.format(rows=_SAME_MANAGER, shown=_SHOWN)})
                         UNION ALL ({_FIRST.format(rows=_NO_MANAGER, shown=_SHOWN)})) f ON TRUE
      LEFT JOIN onboarding_onboardingcase c ON c.id = f.case_id
     WHERE t.branch_id {_SUBTREE} AND t.state = ANY(%(open)s) AND t.n > 0)
   UNION ALL
   (SELECT 1, NULL, NULL, NULL, s.state, SUM(s.n), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      FROM onboarding_stagecount s WHERE s.branch_id {_SUBTREE} GROUP BY s.state)
   ORDER BY 1, 10, 16"""  # noqa: S608 (fragments made here, never input)
_GROUP_FIELDS = (
    "account_manager_id",
    "current_visit__holder_role",
    "branch_id",
    "state",
    "n",
    "late",
    "reference",
    "public_id",
    "current_visit__entered_at",
    "current_visit__due_at",
    "branch__name",
    "branch__level",
    "branch__parent_id",
    "branch__parent__name",
)


def _groups_kept(branch: Any, open_states: tuple[str, ...], now: dt.datetime) -> list[dict[str, Any]]:
    return _groups_and_stages_kept(branch, open_states, now)[0]


def _groups_and_stages_kept(
    branch: Any, open_states: tuple[str, ...], now: dt.datetime
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """`_groups_counted`'s rows from the kept tables (PostgreSQL), in one statement written once:
    the subtree's groups from `TeamCount` (dozens of rows, not the subtree's thousands of open
    cases), each group's longest-waiting case its first row in `open_stage_group_idx` and its
    overdue count its rows there past due (an index-only read of those rows). The groups and
    their rows are read in one snapshot: a group always finds its first case. With them, the
    subtree's cases per state (`selectors.stage_counts`). Prepared on its connection: the
    subtree's branches are an init plan, so the plan is the same for every reader."""
    subtree = branch.path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params = {
        "working": list(WORKING_STAGES),
        "now": now,
        "subtree": subtree,
        "open": list(open_states),
        "customer": CUSTOMER,
        "initial": list(declaration.initial_states()),
    }
    with read_cursor() as cursor:
        cursor.execute(TEAM_GROUPS_SQL, params)
        found = cursor.fetchall()
    rows, stages = [], {}
    for part, *values, _first in found:
        if part:
            if values[4]:
                stages[values[3]] = int(values[4])
            continue
        row = dict(zip(_GROUP_FIELDS, values, strict=True))
        row["current_visit__entered_at"] = from_micros(row["current_visit__entered_at"])
        row["current_visit__due_at"] = from_micros(row["current_visit__due_at"])
        rows.append(row)
    return rows, stages


_SAMPLE_ID = uuid.UUID(int=0)


def team_body(rows: list[TeamRow], *, request: Any) -> SafeString:
    """The team table's body rows, the markup `_team.html`'s loop wrote, built in one pass (as
    the cockpit's `table_rows`): two dozen rows of links, dates and working days were ~5 ms of
    the template engine's CPU."""
    plain_ints = not settings.USE_THOUSAND_SEPARATOR

    def number(n: int) -> str:
        return str(n) if plain_ints else str(formats.localize(n))

    words = _words(get_language())
    since, hand_on, late_text = words.since, words.hand_on, words.late_text
    prefix = get_script_prefix()
    # `late_workdays` of each row's oldest case, with the zone, the moment and its position in
    # working time taken once for the table (they were looked up twice per row and call).
    tz = timezone.get_current_timezone()
    now = timezone.now()
    cal: workcal.WorkCalendar | None = None
    at = 0
    # Once: a case's link differs by its id alone (a UUID's text needs no escaping).
    case_head, case_tail = escape(reverse("case_detail", args=[_SAMPLE_ID])).split(str(_SAMPLE_ID))
    out = []
    for row in rows:
        if row.overdue:
            late = f'<a class="badge danger" href="{_list_href(prefix, (*row.params.items(), ("overdue", "on")))}">{number(row.overdue)}</a>'
        else:
            late = "0"
        if row.oldest:
            oldest = row.oldest
            days = None
            if oldest.due_at is not None and oldest.due_at < now:
                if cal is None:
                    cal = workcal.page_calendar(request)
                    at = cal.position(now.astimezone(tz))
                days = max(1, math.ceil((at - cal.position(oldest.due_at.astimezone(tz))) / workcal.DAY))
            late_days = (
                ' · <span class="late-days">' + escape(late_text % {"late_days": number(days)}) + "</span>"
                if days
                else ""
            )
            waiting = (
                f'<a href="{case_head}{oldest.public_id}{case_tail}">'
                f"{escape(oldest.reference)}</a>\n"
                f'        <div class="sub">{since} {oldest.entered_at.astimezone(tz):%Y-%m-%d}{late_days}</div>'
            )
        else:
            waiting = "—"
        person = (
            f'<a class="reassign" href="{escape(_work_path(prefix, row.person))}">{hand_on}</a>' if row.person else ""
        )
        out.append(
            f'<tr class="team-row{" overdue" if row.overdue else ""}">\n'
            f"      <td><strong>{escape(row.who)}</strong></td>\n"
            f'      <td class="sub">{escape(row.role)}</td>\n'
            f'      <td><a href="{_list_href(prefix, tuple(row._url_params().items()))}">{number(row.held)}</a></td>\n'
            f"      <td>{late}</td>\n"
            f"      <td>{number(row.with_customer) if row.with_customer else '—'}</td>\n"
            f"      <td>{waiting}</td>\n"
            f"      <td>{person}</td>\n"
            "    </tr>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value and link is escaped above


def _holder_branch(role: str, row: Mapping[str, Any]) -> tuple[int, str] | None:
    """Where the holding role sits for a case (its branch's id and name): head-office roles
    above the subtree (None), the supervisors at the tier-1 branch above a sub-branch's case,
    the counter at the case's own branch."""
    if role in UPPER_ROLES:
        return None
    if role == Role.BRANCH_SUPERVISOR and row["branch__level"] == BranchLevel.SUB_BRANCH and row["branch__parent_id"]:
        return row["branch__parent_id"], row["branch__parent__name"]
    return row["branch_id"], row["branch__name"]
