"""Reads of the audit app.

`audit_events` merges the case history (onboarding.CaseEvent) and the access events of
this app into one list of dicts, newest first, so the audit page and the CSV export
page and stream the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches.models import Branch
from branches.roles import Role, has_role
from branches.scope import subtree_q
from companies.models import CompanyVersion, Enterprise
from config import keyset
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.selectors import case_ids_matching

from .models import AccessEvent, BreakGlassGrant
from .services import may_break_glass


def is_auditor(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False) and user.branch_id is not None and has_role(user, Role.AUDITOR)
    )


def case_for_break_glass(*, user: Any, public_id: Any) -> OnboardingCase:
    """Any case, for a staff member about to state a reason; 404 for everyone else."""
    if not may_break_glass(user):
        raise Http404("no such case")
    try:
        return OnboardingCase.objects.select_related("enterprise", "branch").get(public_id=public_id)
    except (OnboardingCase.DoesNotExist, ValueError):
        raise Http404("no such case") from None


def active_grant(*, user: Any, case: OnboardingCase) -> BreakGlassGrant | None:
    return (
        BreakGlassGrant.objects.filter(user_id=user.pk, case=case, expires_at__gt=timezone.now())
        .order_by("-expires_at")
        .first()
    )


def case_get_with_grant(*, user: Any, public_id: Any) -> tuple[OnboardingCase, BreakGlassGrant]:
    """The case behind a live break-glass grant of this user; 404 without one."""
    case = case_for_break_glass(user=user, public_id=public_id)
    grant = active_grant(user=user, case=case)
    if grant is None:
        raise Http404("no grant")
    return case, grant


# The log's statement is written here, not built by the ORM on every request (issue 26: the
# ORM's two annotated sides, their union and its compilation cost more CPU than PostgreSQL
# spent running it). Each side of the UNION selects the same columns in the same order (SQL
# matches them by position): its own table's columns and the ids of the person and the case.
# The names behind those ids are joined once, to the page's rows, around the union
# (`_LOOKUPS`), not on each side to every row it reads. Names come from the models; every
# value is a parameter.
_SIDE_COLUMNS = (
    "src",
    "ev_id",
    "at",
    "ev_kind",
    "ev_name",
    "typed_username",
    "from_st",
    "to_st",
    "why",
    "address",
    "page",
)

# What each row shows of its person and case, looked up by id around the union. The case's
# version of the company data (the approved one past intake), as the case page shows it.
_LOOKUPS = (
    ("who", "au.{username}"),
    ("who_name", "au.{display_name}"),
    ("case_ref", "c.{reference}"),
    ("case_uuid", "c.{public_id}"),
    ("company", "COALESCE(cv.{name}, e.{name})"),
    ("branch_name", "b.{name}"),
)

_KEYS = (*_SIDE_COLUMNS, *(alias for alias, _expr in _LOOKUPS))


@dataclass(frozen=True)
class _Sql:
    """The fixed parts of the log's statement on one database, written at first use."""

    case_side: str  # SELECT … FROM <case events> ce
    access_side: str  # SELECT … FROM <access events> ae
    case_join: str  # a case event's case (alias sc), for the branch filter
    access_case_join: str  # an access event's case (sc), likewise
    access_actor_join: str  # an access event's person (su), likewise
    case_table: str
    user_table: str
    head: str  # SELECT <columns and names> FROM (
    tail: str  # ) u LEFT JOIN <user, case, company version, enterprise, branch>
    iexact: str  # an access event's typed username matching %s, case-insensitively
    converters: tuple[tuple[int, Any, list[Any]], ...]  # (column, col, funcs) as the ORM would


_sql: dict[str, _Sql] = {}


def _statement() -> _Sql:
    found = _sql.get(connection.vendor)
    if found is None:
        found = _sql[connection.vendor] = _write_statement()
    return found


def _write_statement() -> _Sql:
    qn = connection.ops.quote_name
    user_table = qn(get_user_model()._meta.db_table)
    case_table = qn(OnboardingCase._meta.db_table)

    def col(model: Any, name: str) -> str:
        return qn(model._meta.get_field(name).column)

    ce = {n: col(CaseEvent, n) for n in ("id", "created_at", "kind", "name", "from_state", "to_state", "reason")}
    ae = {n: col(AccessEvent, n) for n in ("id", "created_at", "kind", "username", "reason", "ip", "path", "data")}
    if connection.vendor == "postgresql":
        # What the ORM wrote for Coalesce(Cast(KT("data__view"), CharField()), ""): the URL name read.
        view = f"COALESCE(((ae.{ae['data']} ->> 'view'))::varchar, '')"
    else:
        view = f"COALESCE(CAST(JSON_EXTRACT(ae.{ae['data']}, '$.\"view\"') AS text), '')"
    # Names from the models only, never input.
    case_side = (
        f"SELECT 'case' AS {qn('src')}, ce.{ce['id']} AS {qn('ev_id')}, ce.{ce['created_at']} AS {qn('at')},"  # noqa: S608
        f" ce.{ce['kind']} AS {qn('ev_kind')}, ce.{ce['name']} AS {qn('ev_name')}, '' AS {qn('typed_username')},"
        f" ce.{ce['from_state']} AS {qn('from_st')}, ce.{ce['to_state']} AS {qn('to_st')},"
        f" ce.{ce['reason']} AS {qn('why')}, '' AS {qn('address')}, '' AS {qn('page')},"
        f" ce.{col(CaseEvent, 'actor')} AS {qn('who_id')}, ce.{col(CaseEvent, 'case')} AS {qn('case_key')}"
        f" FROM {qn(CaseEvent._meta.db_table)} ce"
    )
    access_side = (
        f"SELECT 'access' AS {qn('src')}, ae.{ae['id']} AS {qn('ev_id')}, ae.{ae['created_at']} AS {qn('at')},"  # noqa: S608
        f" ae.{ae['kind']} AS {qn('ev_kind')}, {view} AS {qn('ev_name')},"
        f" ae.{ae['username']} AS {qn('typed_username')}, '' AS {qn('from_st')}, '' AS {qn('to_st')},"
        f" ae.{ae['reason']} AS {qn('why')}, ae.{ae['ip']} AS {qn('address')}, ae.{ae['path']} AS {qn('page')},"
        f" ae.{col(AccessEvent, 'actor')} AS {qn('who_id')}, ae.{col(AccessEvent, 'case')} AS {qn('case_key')}"
        f" FROM {qn(AccessEvent._meta.db_table)} ae"
    )
    names = {n: qn(n) for n in ("username", "display_name", "reference", "public_id", "name")}
    columns = [f"u.{qn(c)}" for c in _SIDE_COLUMNS] + [
        expr.format(**names) + f" AS {qn(alias)}" for alias, expr in _LOOKUPS
    ]
    tail = (
        f") u LEFT JOIN {user_table} au ON au.{qn('id')} = u.{qn('who_id')}"
        f" LEFT JOIN {case_table} c ON c.{qn('id')} = u.{qn('case_key')}"
        f" LEFT JOIN {qn(CompanyVersion._meta.db_table)} cv ON cv.{qn('id')} = c.{qn('company_version_id')}"
        f" LEFT JOIN {qn(Enterprise._meta.db_table)} e ON e.{qn('id')} = c.{qn('enterprise_id')}"
        f" LEFT JOIN {qn(Branch._meta.db_table)} b ON b.{qn('id')} = c.{qn('branch_id')}"
    )
    # The ORM's `username__iexact` on this database.
    lhs = connection.ops.lookup_cast("iexact", "CharField") % f"ae.{ae['username']}"
    converters = []
    for key, field in (
        ("at", CaseEvent._meta.get_field("created_at")),
        ("case_uuid", OnboardingCase._meta.get_field("public_id")),
    ):
        column = field.get_col(field.model._meta.db_table)
        funcs = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if funcs:
            converters.append((_KEYS.index(key), column, funcs))
    return _Sql(
        case_side=case_side,
        access_side=access_side,
        case_join=f" JOIN {case_table} sc ON sc.{qn('id')} = ce.{col(CaseEvent, 'case')}",
        access_case_join=f" JOIN {case_table} sc ON sc.{qn('id')} = ae.{col(AccessEvent, 'case')}",
        access_actor_join=f" JOIN {user_table} su ON su.{qn('id')} = ae.{col(AccessEvent, 'actor')}",
        case_table=case_table,
        user_table=user_table,
        head=f"SELECT {', '.join(columns)} FROM (",  # noqa: S608
        tail=tail,
        iexact=f"{lhs} {connection.operators['iexact'] % '%s'}",  # type: ignore[attr-defined]
        converters=tuple(converters),
    )


@dataclass(frozen=True)
class AuditKey:
    """Where a page of the log starts or ends: a row's time, source ("case"/"access") and id.

    The log's order is (time, source, id), newest first: ids alone repeat across the two
    tables. Written in a URL as `<microseconds since 1970>-<c|a><id>`.
    """

    at: dt.datetime
    src: str
    id: int

    def __str__(self) -> str:
        return f"{keyset.micros(self.at)}-{self.src[0]}{self.id}"

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> AuditKey:
        return cls(at=row["at"], src=row["src"], id=row["ev_id"])

    @classmethod
    def parse(cls, text: str | None) -> AuditKey | None:
        """The key in a URL; None for anything else (a hand-edited link starts at the top)."""
        try:
            stamp, rest = (text or "").split("-", 1)
            src = {"c": "case", "a": "access"}[rest[:1]]
            return cls(at=keyset.from_micros(int(stamp)), src=src, id=int(rest[1:]))
        except (KeyError, ValueError, OverflowError):
            return None


def _side_after(t: str, src: str, key: AuditKey, *, descending: bool) -> tuple[str, list[Any]]:
    """The rows of one side of the union (alias `t`) that come after `key` in the log's order:
    `config.keyset.after_q` on its own source, the time alone on the other."""
    at = connection.ops.adapt_datetimefield_value(key.at)
    lt, le = ("<", "<=") if descending else (">", ">=")
    if src == key.src:
        return f"{t}.created_at {le} %s AND ({t}.created_at {lt} %s OR {t}.id {lt} %s)", [at, at, key.id]
    # Same instant, other source: "case" sorts above "access" (the order is by source too).
    if descending:
        return f"{t}.created_at {le if src < key.src else lt} %s", [at]
    return f"{t}.created_at {le if src > key.src else lt} %s", [at]


class _Arm:
    """One `SELECT` of the log's union: a side (case events `ce` or access events `ae`), its
    joins and its conditions with their parameters, in order."""

    def __init__(self, side: str, t: str) -> None:
        self.side, self.t = side, t
        self.joins: list[str] = []
        self.conditions: list[str] = []
        self.params: list[Any] = []
        self.with_case = False  # its rows have a case (a search by case)
        self.without_actor = False  # its rows have no person (a name typed at the login form)
        # Read per row of another table (FROM <table> CROSS JOIN LATERAL (<this arm>) x WHERE
        # <outer>): the table with its alias, the arm's tie to it, the outer condition and its
        # parameters.
        self.lateral: tuple[str, str, str, list[Any]] | None = None

    def copy(self) -> _Arm:
        other = _Arm(self.side, self.t)
        other.joins, other.conditions, other.params = list(self.joins), list(self.conditions), list(self.params)
        other.with_case, other.without_actor = self.with_case, self.without_actor
        return other

    def join(self, clause: str) -> _Arm:
        self.joins.append(clause)
        return self

    def where(self, condition: str, params: list[Any]) -> _Arm:
        self.conditions.append(condition)
        self.params += params
        return self

    def sql(self, order: str) -> tuple[str, list[Any]]:
        """The arm's statement, ordered and cut by `order` (" ORDER BY … LIMIT n" of its own
        alias's columns, or ""), and its parameters."""
        conditions = self.conditions if self.lateral is None else [self.lateral[1], *self.conditions]
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        text = self.side + "".join(self.joins) + where + order
        if self.lateral is None:
            return text, self.params
        table, _tie, outer, outer_params = self.lateral
        # The same order of the rows gathered, by the union's column names.
        outer_order = order.replace(f"{self.t}.created_at", "x.at").replace(f"{self.t}.id", "x.ev_id")
        return (
            f"SELECT x.* FROM {table} CROSS JOIN LATERAL ({text}) x WHERE {outer}{outer_order}",  # noqa: S608
            [*self.params, *outer_params],
        )


def few_cases(cases: tuple[int, int] | None) -> bool:
    """Whether a subtree of `cases` = (its cases, the bank's) is read case by case rather than
    along the whole log newest first. The log walked newest first reads about limit × bank /
    subtree rows for a page, case by case about the subtree's events (~20 a case a table):
    equal near √(2.5 × bank) cases (~500 of 100,000), and past that walk's estimate its cost has
    no bound (a branch whose cases are all old walks everything newer). PostgreSQL only: SQLite
    has no LATERAL."""
    if cases is None or connection.vendor != "postgresql":
        return False
    subtree, bank = cases
    return subtree * subtree <= FEW_CASES_FACTOR * bank


FEW_CASES_FACTOR = 2.5


def _in(column: str, values: list[Any]) -> str:
    return f"{column} IN ({', '.join(['%s'] * len(values))})"


LOG_ORDER = ("-at", "-src", "-ev_id")
LOG_ORDER_UP = ("at", "src", "ev_id")


# How many cases a search of the log by case matches at most (a company name shared by more
# than this is no search for one case's record).
CASES_MATCHED = 200


def audit_events(
    *,
    case: str = "",
    person: str = "",
    branch: Branch | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    after: AuditKey | None = None,
    before: AuditKey | None = None,
    limit: int | None = None,
    subtree: list[int] | None = None,
    cases: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Case events and access events, newest first (`LOG_ORDER`), at most `limit` of them.

    Keyset pages: `after` a key, the older rows; `before` a key, the newer ones, oldest first
    (`LOG_ORDER_UP`: the caller reverses them). `limit`: only that many rows are wanted: each
    side is then cut to its own `limit` rows past the key, read along its (created_at, id)
    index, before the union is sorted: a page reads about `limit` rows of each table however
    deep it is, instead of sorting every event ever recorded. `subtree`: the ids of `branch`
    and the branches below it, when the caller has them (else they are read); `cases`: how
    many cases the subtree has and the bank has, when known (`few_cases`).

    One statement: `SELECT … FROM (<case events> UNION ALL <access events>) u LEFT JOIN <user,
    case, company version, enterprise, branch>`. Joined on each side of the union instead,
    PostgreSQL planned two six-table joins for every page (3–14 ms of planning, and as long
    again starting them) to look up 51 rows' names.
    """
    sql = _statement()
    case_arm = _Arm(sql.case_side, "ce")
    access_arms = [_Arm(sql.access_side, "ae")]
    if case:
        # The matching cases first (reference, credit code or company name, on their indexes: a
        # handful of ids), then their events newest first along the events' (case, created_at,
        # id) indexes: a page of a case read thousands of times reads a page, not every read
        # sorted. Not every event tested against the text.
        ids = [row["pk"] for row in case_ids_matching(case)[:CASES_MATCHED]]
        if not ids:
            return []
        case_arm.where(_in("ce.case_id", ids), ids)
        access_arms[0].where(_in("ae.case_id", ids), ids)
        access_arms[0].with_case = True
    if person:
        person = person.strip()
        # The people first (a handful of ids): their events are then read newest first along
        # the (actor, created_at, id) indexes, whatever else the log holds. Beside them, the
        # name as typed at the login form, on the rows that name nobody (access_typed_name_idx):
        # every other row's username is its person's.
        people = list(
            get_user_model()
            .objects.filter(Q(username__iexact=person) | Q(display_name=person))
            .values_list("pk", flat=True)
        )
        if people:
            case_arm.where(_in("ce.actor_id", people), people)
        else:
            case_arm.where("1 = 0", [])  # nobody by that name acted on a case
        typed = connection.ops.prep_for_iexact_query(person)
        arms = []
        for arm in access_arms:
            if people:
                arms.append(arm.copy().where(_in("ae.actor_id", people), people))
            nobody = arm.copy().where(f"ae.actor_id IS NULL AND {sql.iexact}", [typed])
            nobody.without_actor = True
            arms.append(nobody)
        access_arms = arms
    if branch is not None:
        if subtree is None:
            subtree = list(Branch.objects.filter(subtree_q("", branch)).values_list("pk", flat=True))
        # The subtree's ids, not `branch.path LIKE` in a subquery: nothing more for PostgreSQL
        # to plan around. An access event without a case is its person's branch's (a login).
        in_subtree, by_person = _in("sc.branch_id", subtree), _in("su.branch_id", subtree)
        arms = []
        if limit is not None and not case and not person and few_cases(cases):
            # A small subtree: its cases' events, each case's newest first along the events' case
            # indexes, and its people's logins likewise (access_login_idx), instead of walking
            # the whole bank's log newest first for the few rows that are the subtree's.
            case_arm.lateral = (f"{sql.case_table} sc", "ce.case_id = sc.id", in_subtree, subtree)
            reads = access_arms[0]
            logins = reads.copy().where("ae.case_id IS NULL", [])
            reads.lateral = (f"{sql.case_table} sc", "ae.case_id = sc.id", in_subtree, subtree)
            logins.lateral = (f"{sql.user_table} su", "ae.actor_id = su.id", by_person, subtree)
            arms = [reads, logins]
        else:
            case_arm.join(sql.case_join).where(in_subtree, subtree)
        for arm in access_arms if not arms else ():
            if arm.with_case or arm.without_actor:  # the case, or no one, must be in the subtree
                arms.append(arm.join(sql.access_case_join).where(in_subtree, subtree))
            else:
                # One walk of the reads newest first, each tested against the subtree (at a tier-1
                # branch a page reads ~400 of them); apart, the logins of the subtree's people
                # were planned around every login of the bank.
                arm.join(sql.access_case_join.replace(" JOIN", " LEFT JOIN", 1))
                arm.join(sql.access_actor_join.replace(" JOIN", " LEFT JOIN", 1))
                arms.append(arm.where(f"({in_subtree} OR (ae.case_id IS NULL AND {by_person}))", [*subtree, *subtree]))
        access_arms = arms
    tz = timezone.get_current_timezone()
    common: list[tuple[str, list[Any]]] = []
    if date_from:
        start = connection.ops.adapt_datetimefield_value(dt.datetime.combine(date_from, dt.time.min, tzinfo=tz))
        common.append(("{t}.created_at >= %s", [start]))
    if date_to:
        end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        common.append(("{t}.created_at < %s", [connection.ops.adapt_datetimefield_value(end)]))
    descending = before is None
    key = after or before
    way = "DESC" if descending else "ASC"
    cut = f" LIMIT {int(limit)}" if limit is not None else ""
    sides = []
    params: list[Any] = []
    for arm, src in [(case_arm, "case"), *((arm, "access") for arm in access_arms)]:
        for where, values in common:
            arm.where(where.format(t=arm.t), values)
        if key is not None:
            arm.where(*_side_after(arm.t, src, key, descending=descending))
        # Each arm newest first along its (created_at, id) index, cut to the page.
        text, values = arm.sql(f" ORDER BY {arm.t}.created_at {way}, {arm.t}.id {way}{cut}" if cut else "")
        if cut:
            # PostgreSQL takes an arm's ORDER BY and LIMIT in parentheses; SQLite in a subquery.
            text = f"({text})" if connection.vendor == "postgresql" else f"SELECT * FROM ({text})"  # noqa: S608
        sides.append(text)
        params += values
    statement = (
        f"{sql.head}{' UNION ALL '.join(sides)} ORDER BY 3 {way}, 1 {way}, 2 {way}{cut}{sql.tail}"
        f" ORDER BY u.at {way}, u.src {way}, u.ev_id {way}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        raw = cursor.fetchall()
    rows = []
    keys = _KEYS
    for values in raw:
        if sql.converters:
            values = list(values)
            for i, column, funcs in sql.converters:
                for func in funcs:
                    values[i] = func(values[i], column, connection)
        rows.append(dict(zip(keys, values, strict=True)))
    return rows


# What each read is, by the URL name the access event names (`data["view"]`); lazy labels.
READ_VIEWS: dict[str, Any] = {
    "case_detail": _("员工案件页"),
    "case_edit": _("员工案件编辑页"),
    "portal:case_detail": _("门户案件页"),
    "portal:case_edit": _("门户案件编辑页"),
    "document_detail": _("文件页"),
    "document_download": _("文件下载"),
    "document_view": _("文件在线查看"),
    "api:case_list": _("API 案件列表"),
    "api:case_detail": _("API 案件详情"),
    "api:case_documents": _("API 文件列表"),
    "api:version_download": _("API 文件下载"),
    "links:link_detail": _("员工直联服务页"),
    "links:link_history": _("员工直联服务历史页"),
    "links:link_requests": _("员工直联服务申请页"),
    "links:portal_link": _("门户直联服务页"),
    "links:portal_link_history": _("门户直联服务历史页"),
    "links:portal_link_requests": _("门户直联服务申请页"),
}

# Lazy labels: str() here would freeze the language of whoever imported the module first.
KIND_LABELS: dict[str, Any] = {
    **dict(CaseEvent.Kind.choices),
    **dict(AccessEvent.Kind.choices),
}
