"""Reads, always scoped to what the user may see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Case, Count, F, Field, Q, QuerySet, Value, When, prefetch_related_objects
from django.http import Http404
from django.utils import timezone
from django.utils.functional import cached_property

from branches.models import Branch
from branches.roles import Role, user_roles
from branches.scope import case_in_scope, subtree_joined_q, subtree_q
from casetypes import declaration
from casetypes.declaration import Feature
from companies.models import CompanyVersion, Enterprise
from config.frozen import OWNER, PATH, PUBLIC_ID, frozen
from config.statements import fetch_one, like_prefix, prepared, read_cursor

from . import case_row, rules
from .models import CaseEvent, GatewayObservation, ModuleTestResult, OnboardingCase
from .states import CUSTOMER, OPEN_STATES, TEST_CASES, WORKING_STAGES, Module, joint_test_label


def case_visible_q(user: Any) -> Q:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(pk__in=[])
    if user.enterprise_id is not None:
        return Q(enterprise_id=user.enterprise_id)
    if user.branch_id is not None and user_roles(user):
        return subtree_q("branch", user.branch)
    return Q(pk__in=[])


def case_list(*, user: Any, whole_bank: bool = False) -> QuerySet[OnboardingCase]:
    """The cases the user may see, newest first. `whole_bank`: the caller knows that the staff
    member's subtree holds every branch (the case list's kept options), so every case is in
    scope and no filter is written (head office's list then walks the order index alone, where
    the subtree's ids were tested on every index row: page 200 read 5,000 rows twice)."""
    staff = user.enterprise_id is None and user.branch_id is not None
    scope = Q() if whole_bank and staff and user.is_active and user_roles(user) else case_visible_q(user)
    return (
        OnboardingCase.objects.filter(scope)
        .select_related("enterprise", "company_version", "branch", "account_manager", "current_visit")
        .order_by("-created_at", "-pk")
    )


def case_list_keys(*, user: Any) -> QuerySet[OnboardingCase, Any]:
    """The scoped case list as keys only (id and creation time, the list's order): a page of
    it is found along `case_list_order_idx` with nothing joined. PostgreSQL plans the joined
    list (`case_list`) with its ORDER BY and LIMIT in 10–50 ms for about 1 ms of running it;
    this in a fraction of a millisecond. The rows then come by id (`case_rows`). Each key a named
    row (`created_at`, `pk`), not a model instance."""
    return (
        OnboardingCase.objects.filter(case_visible_q(user))
        .order_by("-created_at", "-pk")
        .values_list("created_at", "pk", named=True)
    )


def _of_version(field: str) -> Case:
    """The case's data version's `field`, or the company's own for a case without a version."""
    own = CompanyVersion._meta.get_field(field)
    assert isinstance(own, Field)  # a column of the version, not a relation
    fallback: Any = Value(0) if field == "number" else F(f"enterprise__{field}")
    return Case(
        When(company_version__isnull=True, then=fallback),
        default=F(f"company_version__{field}"),
        output_field=type(own)(),
    )


# What the API's case list shows of a case (api.serializers.CaseSerializer's fields, in its
# order), read as values, each column's name and what it reads: the company's name, credit code
# and version number the case's data version's, or the company's as it is (number 0) for a case
# without one (`OnboardingCase.company`).
_CASE_ROW: dict[str, Any] = {
    "id": "id",
    "public_id": "public_id",
    "reference": "reference",
    "state": "state",
    "version": "version",
    "company_name": _of_version("name"),
    "company_uscc": _of_version("uscc"),
    "company_number": _of_version("number"),
    "branch_code": "branch__code",
    "modules": "modules",
    "erp_system": "erp_system",
    "connection_notes": "connection_notes",
    "target_date": "target_date",
    "stage_due_at": "current_visit__due_at",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
CASE_ROW_COLUMNS = tuple(_CASE_ROW)


def _case_rows(ids: list[int]) -> QuerySet[OnboardingCase]:
    return OnboardingCase.objects.filter(pk__in=ids).order_by().values_list(*_CASE_ROW.values())


def case_rows(ids: list[int]) -> list[tuple[Any, ...]]:
    """What the API's case list shows of the cases of these ids (`CASE_ROW_COLUMNS`), in this
    order: keys found by `case_list_keys`, so no scope again. Values, not model instances (a
    list of 50 made ~300 instances, ~5 ms of CPU, to show sixteen values a case), compiled
    once and prepared (`config.frozen`, the ids one array)."""
    read = frozen("case_rows", _case_rows, [[OWNER]])
    by_id = {row[0]: row for row in read.values(ids)}
    return [by_id[pk] for pk in ids if pk in by_id]


def _case_for_user(q: Q, public_id: Any) -> QuerySet[OnboardingCase]:
    return (
        OnboardingCase.objects.filter(q)
        .select_related(
            "enterprise",
            "company_version",
            "branch",
            "account_manager",
            "current_visit",
            "test_package__recorded_by",
            "production_config__recorded_by",
            "branch__parent",
        )
        .filter(public_id=public_id)
        .order_by()
    )


def case_get_for_user(*, user: Any, public_id: Any) -> OnboardingCase:
    """The case (404 outside the user's scope, `case_visible_q`) with its company, company data
    version, branch and its parent, account manager, current visit, and the test package and
    production configuration with who recorded them (the API's case calls show these).

    Compiled once per reader's kind (`config.frozen`) and prepared: the company's own case for
    a customer; for staff the case found by its key and checked against the subtree on the
    branch already joined (as the case page's case row is), not a subquery of the subtree's
    branches: the same rows, one plan for any reader (issue 26: the ORM built this join of ten
    tables in ~2 ms of CPU and PostgreSQL planned it on every API call about a case)."""
    try:
        public_id = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except ValueError:
        raise Http404("no such case") from None
    found: list[OnboardingCase] = []
    if getattr(user, "is_authenticated", False) and user.is_active:
        if user.enterprise_id is not None:
            read = frozen(
                "case_for_user:company",
                lambda owner, pid: _case_for_user(Q(enterprise_id=owner), pid),
                [OWNER, PUBLIC_ID],
            )
            found = read.objects(user.enterprise_id, public_id)
        elif user.branch_id is not None and user_roles(user):
            read = frozen(
                "case_for_user:subtree",
                lambda path, pid: _case_for_user(subtree_joined_q("branch", Branch(path=path)), pid),
                [PATH, PUBLIC_ID],
                keyed=True,
            )
            found = read.objects(user.branch.path, public_id)
    if not found:
        raise Http404("no such case")
    return found[0]


def case_page_get(*, user: Any, public_id: Any) -> OnboardingCase:
    """The case for its page (staff and portal): with what its panels would otherwise read
    one query each.

    Two reads of a few tables each rather than one join of them all: PostgreSQL's time to
    choose the order of a dozen joins (25 ms and more at 100,000 cases) exceeded the time to
    run them many times over, while a join of six tables plans in about a millisecond.
    - The case with its company, company version, branch, account manager and current visit,
      the newest company version's id (is the case's version still the newest?) and whether any
      change request exists; scoped by the branch's path on the branch already joined (no
      subquery: a case is one row).
    - Its one-to-ones: the test package and production configuration with who recorded them,
      the branch's parent, and whatever other apps registered in `page_reads.page_relations`
      (the go-live forecast).
    Both statements are written once per process from the models (`case_row`): building them
    with the ORM cost more CPU than running them. Then the case's visits (the stage tracker and
    the time split read them all) and `page_reads.page_loaders` (the live link or the link
    request, read only for the case types and states that have one).
    """
    from .page_reads import page_loaders

    row, others = case_row.statements()
    where, params = _case_row_scope(user, row)
    if where is None:
        raise Http404("no such case")
    try:
        key = OnboardingCase._meta.get_field("public_id").get_db_prep_value(public_id, connection)
    except (ValueError, ValidationError):
        raise Http404("no such case") from None
    objects = fetch_one(row, f"{row.column('public_id')} = %s AND {where}", [key, *params])
    if objects is None:
        raise Http404("no such case")
    case: OnboardingCase = objects[0]
    case.has_change_requests = bool(case.has_change_requests)  # type: ignore[attr-defined]  # 0/1 on SQLite
    case_row.read_others(others, case)  # with the visits: the stage tracker's and the time split's
    for load in page_loaders:
        load(case)
    return case


def _case_row_scope(user: Any, row: Any) -> tuple[str | None, list[Any]]:
    """`case_visible_q` for the case row's statement (`row`, `case_row.statements`): staff by
    their branch's path on the branch already joined (no subquery: a case is one row), a
    company's user by the company; None where nothing is visible."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None, []
    if user.enterprise_id is not None:
        return f"{row.column('enterprise')} = %s", [user.enterprise_id]
    if user.branch_id is not None and user_roles(user):
        like, prefix = like_prefix(user.branch.path)
        return f"{row.column('path', 'branch')} {like}", [prefix]
    return None, []


def case_filter(
    qs: QuerySet[OnboardingCase],
    *,
    state: str = "",
    branch: Branch | None = None,
    account_manager_id: int | None = None,
    overdue: bool = False,
    search: str = "",
) -> QuerySet[OnboardingCase]:
    if state:
        qs = qs.filter(state=state)
    if branch is not None:
        qs = qs.filter(subtree_q("branch", branch))
    if account_manager_id:
        qs = qs.filter(account_manager_id=account_manager_id)
    if overdue:
        # Longest overdue first: what a reader of this list looks for, and an index walk of
        # the open visits in due order (open_visit_due_idx) that stops at the page, where the
        # newest-first order would test thousands of recent cases that are not overdue.
        qs = qs.filter(
            current_visit__left_at__isnull=True,
            current_visit__paused_at__isnull=True,
            current_visit__due_at__lt=timezone.now(),
            state__in=WORKING_STAGES,
        ).order_by("current_visit__due_at", "pk")
    if search:
        qs = qs.filter(pk__in=case_ids_matching(search))
    return qs


def case_ids_matching(search: str) -> QuerySet[OnboardingCase, Any]:
    """Cases by reference, or of the companies matching by name or credit code.

    References and credit codes are stored in capitals, so they are equalities on their unique
    indexes; the name is one `UPPER(name) LIKE` over the companies (a trigram index on
    PostgreSQL). Each half reads only its own matches: an OR across the join instead would read
    every visible case and test each against the companies."""
    term = search.strip()
    upper = term.upper()
    companies = Enterprise.objects.filter(Q(name__icontains=term) | Q(uscc=upper)).values("pk")
    by_reference = OnboardingCase.objects.filter(reference=upper).order_by().values("pk")
    by_company = OnboardingCase.objects.filter(enterprise_id__in=companies).order_by().values("pk")
    return by_reference.union(by_company)


def my_work(*, user: Any) -> QuerySet[OnboardingCase]:
    """Cases where the ball is in this user's court, overdue (earliest due) first."""
    roles = user_roles(user)
    if user.enterprise_id is not None:
        mine = Q(current_visit__holder_role=CUSTOMER)
    else:
        staff_roles = roles - {Role.ACCOUNT_MANAGER}
        mine = Q(current_visit__holder_role__in=staff_roles)
        if Role.ACCOUNT_MANAGER in roles:
            mine |= Q(current_visit__holder_role=Role.ACCOUNT_MANAGER, account_manager=user)
            mine |= Q(state__in=declaration.initial_states(), account_manager=user)
            # Cases waiting on the customer are the account manager's to chase.
            mine |= Q(current_visit__holder_role=CUSTOMER, account_manager=user)
    return (
        case_list(user=user)
        # The current visit is open: said outright, so PostgreSQL walks the open visits in due
        # order (open_visit_due_idx) and stops at the page, instead of sorting every visit
        # a role ever held.
        .filter(mine, state__in=OPEN_STATES, current_visit__left_at__isnull=True)
        .exclude(state="suspended")
        .order_by("current_visit__due_at", "created_at")
    )


_SUBTREE_IN = "IN (SELECT b.id FROM branches_branch b WHERE b.path LIKE %s)"
_SUBTREE_INIT = "= ANY(ARRAY(SELECT b.id FROM branches_branch b WHERE b.path LIKE %s))"
STAGE_COUNTS_SQL = (
    "SELECT s.state, SUM(s.n) FROM onboarding_stagecount s"
    " WHERE s.branch_id IN (SELECT b.id FROM branches_branch b WHERE b.path LIKE %s) GROUP BY s.state"
)


_OVERDUE_COUNT = """SELECT COUNT(*) FROM (SELECT 1 FROM onboarding_openstage o
  WHERE o.left_at IS NULL AND o.paused_at IS NULL AND o.due_at < %s AND o.state = ANY(%s)
    AND o.branch_id IN (SELECT b.id FROM branches_branch b WHERE b.path LIKE %s) LIMIT %s) late"""


def stage_counts(*, user: Any) -> dict[str, int]:
    """Cases in scope per state. On PostgreSQL the sum of the scope's branches' `StageCount`
    rows (kept by the cases' triggers): a tier-1 branch or head office reads dozens of rows
    however many cases the bank has. Elsewhere, or for a company's user, the cases counted."""
    if connection.vendor == "postgresql" and user.enterprise_id is None:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return {}
        if user.branch_id is None or not user_roles(user):
            return {}
        # The statement the ORM built for the subtree's `StageCount` rows summed per state,
        # written once (building it cost about a millisecond of CPU a dashboard).
        with connection.cursor() as cursor:
            cursor.execute(STAGE_COUNTS_SQL, [connection.ops.prep_for_like_query(user.branch.path) + "%"])
            return {state: int(total) for state, total in cursor.fetchall() if total}
    # COUNT(*), not COUNT(id): the (branch, state) index alone answers it (an index-only scan).
    rows = OnboardingCase.objects.filter(case_visible_q(user)).values("state").annotate(n=Count("*")).order_by()
    return {row["state"]: row["n"] for row in rows}


# The dashboard counts overdue cases up to this many, then shows "1000+".
OVERDUE_COUNT_LIMIT = 1000


def overdue_count(*, user: Any) -> int:
    """Overdue cases in scope, counted up to OVERDUE_COUNT_LIMIT + 1 (a COUNT over a LIMIT).
    On PostgreSQL from `OpenStage` alone (kept by triggers: the case's branch and state beside
    its open visit's times): a branch's open stages from the team index, head office's overdue
    ones from `open_stage_late_idx` in due order, with no case or visit read; head office's
    figure costs what a branch's does, however far behind the bank is."""
    if connection.vendor == "postgresql" and _overdue_kept_applies(user):
        # `overdue_cases_kept`'s rows counted, written out (issue 26: the ORM built this count in
        # ~1.5 ms of CPU for ~1 ms of running it).
        with connection.cursor() as cursor:
            cursor.execute(
                _OVERDUE_COUNT,
                [timezone.now(), list(WORKING_STAGES), user.branch.path + "%", OVERDUE_COUNT_LIMIT + 1],
            )
            return int(cursor.fetchone()[0])
    qs = case_filter(OnboardingCase.objects.filter(case_visible_q(user)), overdue=True).order_by()
    return qs[: OVERDUE_COUNT_LIMIT + 1].count()


# The per-state figures and the overdue count in one statement (the dashboard of a reader
# without a team table): the overdue count is the row without a state. Prepared on its
# connection (`read_cursor`): each subtree is an init plan (its branch ids read before any row),
# so the one plan is the plan for every reader; PostgreSQL planned it on every dashboard
# (0.3 ms at an account manager's, 0.5 at head office's, for 0.4 and 0.6–0.8 ms of running it;
# head office's generic plan reads the same indexes as its custom one).
_STAGES_AND_OVERDUE = (
    STAGE_COUNTS_SQL.replace(_SUBTREE_IN, _SUBTREE_INIT)
    + f" UNION ALL SELECT NULL, ({_OVERDUE_COUNT.replace(_SUBTREE_IN, _SUBTREE_INIT)})"
)


def stage_counts_and_overdue(*, user: Any) -> tuple[dict[str, int], int]:
    """`stage_counts` and `overdue_count`, in one statement where both read the kept tables
    (PostgreSQL, a staff member with a role at a branch); otherwise each as it reads them."""
    if connection.vendor == "postgresql" and _overdue_kept_applies(user):
        subtree = user.branch.path
        with read_cursor() as cursor:
            cursor.execute(
                _STAGES_AND_OVERDUE,
                [
                    connection.ops.prep_for_like_query(subtree) + "%",
                    timezone.now(),
                    list(WORKING_STAGES),
                    subtree + "%",
                    OVERDUE_COUNT_LIMIT + 1,
                ],
            )
            rows = cursor.fetchall()
        overdue = next(int(total) for state, total in rows if state is None)
        return {state: int(total) for state, total in rows if state is not None and total}, overdue
    return stage_counts(user=user), overdue_count(user=user)


def prefetch_company_accounts(cases: Any) -> None:
    """A case without a company data version shows its company as it is, accounts included:
    read the accounts of all such cases' companies in one query (none when every case has a
    version) rather than one per row."""
    enterprises = [c.enterprise for c in cases if c.company_version_id is None]
    if enterprises:
        prefetch_related_objects(enterprises, "accounts")


# A case list counts its rows up to this many ("10000+ 件"): head office's whole list costs a
# bounded index walk instead of a COUNT of every case; filters narrow it to an exact count.
CASE_LIST_COUNT_LIMIT = 10_000


# What a row of the case list shows (onboarding/views.py `case_list_rows`), read as values.
CASE_LIST_ROW_FIELDS = (
    "pk",
    "public_id",
    "reference",
    "state",
    "enterprise__name",
    "enterprise__uscc",
    "company_version_id",
    "company_version__name",
    "company_version__uscc",
    "branch_id",
    "account_manager_id",
    "current_visit__due_at",
    "current_visit__left_at",
    "current_visit__paused_at",
)


def case_list_count(*, user: Any, branch_ids: list[int] | None, state: str = "") -> int | None:
    """How many cases a staff member's list holds, of one state if given, when it can be known
    without counting them: on PostgreSQL the sum of the branches' `StageCount` rows (kept by the
    cases' triggers; dozens of rows), where the list's bounded count read up to 10,001 index
    entries. `branch_ids` are the list's branches: the user's subtree, or a branch's within it
    (`onboarding.web.case_list_selection` has them with the filter's options), None for every
    branch (a subtree that is the whole bank). None elsewhere: the list counts its rows."""
    if connection.vendor != "postgresql" or user.enterprise_id is not None:
        return None
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.branch_id is None or not user_roles(user):
        return None
    # One short statement, written out: the ORM's aggregate cost ten times its running.
    where: list[str] = []
    params: list[Any] = []
    if branch_ids is not None:
        where, params = ["branch_id = ANY(%s)"], [branch_ids]
    if state:
        where, params = [*where, "state = %s"], [*params, state]
    sql = "SELECT COALESCE(SUM(n), 0) FROM onboarding_stagecount"
    if where:
        sql += " WHERE " + " AND ".join(where)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


class _BoundedPaginator(Paginator):
    def __init__(self, *args: Any, known: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known = known

    @cached_property
    def count(self) -> int:
        if self.known is not None:
            return min(self.known, CASE_LIST_COUNT_LIMIT + 1)
        # Without the list's order: a bounded count takes any CASE_LIST_COUNT_LIMIT + 1 rows.
        rows: Any = self.object_list
        if isinstance(rows, CaseKeys):
            return rows.count_to(CASE_LIST_COUNT_LIMIT + 1)
        return rows.order_by()[: CASE_LIST_COUNT_LIMIT + 1].count()  # type: ignore[no-any-return]


# `overdue_count` on PostgreSQL: `overdue_cases_kept(user=…)` (no filter) counted up to a limit.
# A branch's path is digits and slashes: nothing LIKE would read as a pattern.


def _overdue_kept_applies(user: Any) -> bool:
    """Whether `overdue_cases_kept` answers for `user` (the reader's scope is a branch's subtree)."""
    if user.enterprise_id is not None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.branch_id is not None and bool(user_roles(user))


def overdue_cases_kept(
    *,
    user: Any,
    state: str = "",
    branch: Branch | None = None,
    account_manager_id: int | None = None,
    whole_bank: bool = False,
) -> CaseKeys | None:
    """The overdue case list's cases (`case_filter(…, overdue=True)` in the reader's scope, no
    search) as `OpenStage` rows, in the list's order (longest overdue first, then by case), to
    count and page them (PostgreSQL; None elsewhere): the case's branch, state and account
    manager are kept beside its open visit's times, so head office's count of 10,001 is an
    index-only walk of `open_stage_late_idx` instead of 10,001 cases joined to their visits
    (~50 ms at 100,000 cases). `whole_bank`: the caller knows that the reader's subtree holds
    every branch (`case_list`), so no branch is tested."""
    if connection.vendor != "postgresql" or not _overdue_kept_applies(user):
        return None  # elsewhere; or the list itself is empty (`case_visible_q`)
    keys = CaseKeys("onboarding_openstage o", "o.case_id", "o.due_at, o.case_id")
    keys.where(_OVERDUE_WHERE, timezone.now(), list(WORKING_STAGES))
    return keys.filtered(user=user, whole_bank=whole_bank, state=state, branch=branch, manager=account_manager_id)


def case_list_keys_written(
    *,
    user: Any,
    state: str = "",
    branch: Branch | None = None,
    account_manager_id: int | None = None,
    search: str = "",
    whole_bank: bool = False,
) -> CaseKeys | None:
    """The case list's ids (`case_list` filtered by `case_filter`, not overdue) in its order,
    newest first, written out: the ORM built the page's ids and its bounded count (the scope's
    and the filters' subqueries) in ~0.5 ms of CPU a page for a statement PostgreSQL runs along
    `case_list_order_idx` in a fraction of that. The same statement as the ORM's (the subtrees
    as subqueries of their branches' ids, a search as `case_ids_matching`'s). None where the
    reader's scope is not a branch's subtree (`case_visible_q` then holds nothing): the ORM's
    list answers."""
    if not _overdue_kept_applies(user):
        return None
    keys = CaseKeys("onboarding_onboardingcase c", "c.id", "c.created_at DESC, c.id DESC")
    keys.filtered(user=user, whole_bank=whole_bank, state=state, branch=branch, manager=account_manager_id)
    if search:
        sql, params = _matching(search)
        keys.where(f"c.id IN ({sql})", *params)
    return keys


# A search's stand-in: `case_ids_matching` compiled once per process for it (`_matching`).
_TERM = "zq7654321zq"
_MATCHING: dict[str, tuple[str, list[Any]]] = {}


def _matching(search: str) -> tuple[str, list[Any]]:
    """`case_ids_matching(search)`'s statement and parameters: the ORM's statement compiled once
    (for `_TERM`), the term put in its places (the reference and credit code in capitals, the
    name's pattern escaped for LIKE as the ORM's `icontains` escapes it)."""
    found = _MATCHING.get(connection.vendor)
    if found is None:
        sql, stand_in = case_ids_matching(_TERM).query.sql_with_params()
        if not all(p == _TERM.upper() or (type(p) is str and _TERM in p) for p in stand_in):
            raise ValueError("a parameter of the search is not the term's")  # a programming error
        found = _MATCHING[connection.vendor] = (sql, list(stand_in))
    sql, compiled = found
    term = search.strip()
    like = connection.ops.prep_for_like_query(term)
    return sql, [term.upper() if p == _TERM.upper() else p.replace(_TERM, like) for p in compiled]


# `overdue_cases_kept`'s statement, written out: the ORM built its count and its page (the
# `IN` of every working state twice) in ~1.3 ms of CPU for ~0.5 ms of running the page.
_OVERDUE_WHERE = "o.left_at IS NULL AND o.paused_at IS NULL AND o.due_at < %s AND o.state = ANY(%s)"


class CaseKeys:
    """A case list's case ids in its order, as `case_page`'s paginator reads a list: a bounded
    count (`count_to`) and a slice for a page. `table` is the table read with its alias, `key`
    its case id column, `order` the list's order (ending in the case id: a total order)."""

    def __init__(self, table: str, key: str, order: str) -> None:
        self.table, self.key, self.order = table, key, order
        self.alias = table.split()[-1]
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def where(self, condition: str, *params: Any) -> CaseKeys:
        self.conditions.append(condition)
        self.params.extend(params)
        return self

    def filtered(
        self, *, user: Any, whole_bank: bool, state: str, branch: Branch | None, manager: int | None
    ) -> CaseKeys:
        """The reader's scope (none for a subtree that is the whole bank) and the list's filters,
        as `case_list` and `case_filter` write them: a subtree by its branches' ids (`subtree_q`)."""
        a = self.alias
        for root in ([] if whole_bank else [user.branch]) + ([] if branch is None else [branch]):
            like, prefix = like_prefix(root.path)
            self.where(f"{a}.branch_id IN (SELECT b.id FROM branches_branch b WHERE b.path {like})", prefix)  # noqa: S608 - names only
        if state:
            self.where(f"{a}.state = %s", state)
        if manager:
            self.where(f"{a}.account_manager_id = %s", manager)
        return self

    def _from(self) -> str:
        where = " AND ".join(self.conditions)
        return f"FROM {self.table}" + (f" WHERE {where}" if where else "")

    def count_to(self, limit: int) -> int:
        """How many ids there are, counted up to `limit`."""
        sql = f"SELECT COUNT(*) FROM (SELECT 1 {self._from()} LIMIT %s) n"  # noqa: S608 - no value in the text
        with connection.cursor() as cursor:
            cursor.execute(sql, [*self.params, limit])
            return int(cursor.fetchone()[0])

    def __getitem__(self, part: slice) -> list[int]:
        start = part.start or 0
        if part.stop <= start:
            return []  # an empty page (no id at all): nothing to read, as the ORM's empty slice
        sql = f"SELECT {self.key} {self._from()} ORDER BY {self.order} LIMIT %s OFFSET %s"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*self.params, part.stop - start, start])
            return [pk for (pk,) in cursor.fetchall()]


def case_page(
    ids: QuerySet[Any],
    number: Any,
    size: int,
    *,
    count: int | None = None,
    branch_names: dict[int, str] | None = None,
    manager_names: dict[int, str] | None = None,
) -> Page:
    """One page of a case list: its rows as dicts of `CASE_LIST_ROW_FIELDS`, read by their ids,
    with `branch_name` and `manager_name` (as `str(user)` shows a person; None without one).

    `ids` are the list's case ids in its order: the list's own (`values_list("pk")`, found along
    `case_list_order_idx`, which carries the branch: no join, no case row), or the same cases'
    from `OpenStage` (the overdue list: `overdue_cases_kept`). The page's ids come first, then
    the 25 rows with everything the list shows. The count is bounded (CASE_LIST_COUNT_LIMIT):
    `count_label` / `pages_label` say "10000+" beyond it; `count`, when the caller knows it
    (`case_list_count`), is taken instead of counting. The names are taken
    from `branch_names` and `manager_names` (the filter's options) and read only for the ids
    missing there: the rows' query then joins three tables, not five (planned in a third of the
    time)."""
    paginator = _BoundedPaginator(ids, size, known=count)
    ids_page = paginator.get_page(number)
    page_ids = list(ids_page.object_list)
    # The ids are the scoped, filtered list's: the rows are read by id alone, with only the
    # columns a row shows (no scope, filter or order to plan again: PostgreSQL plans the
    # narrower join in a fraction of the time), as values rather than five model instances each.
    rows: list[dict[str, Any]] = []
    if page_ids:
        rows = case_list_rows_by_id(page_ids)
    _name_rows(rows, branch_names or {}, manager_names or {})
    by_id = {row["pk"]: row for row in rows}
    ids_page.object_list = [by_id[pk] for pk in page_ids if pk in by_id]
    over = paginator.count > CASE_LIST_COUNT_LIMIT
    ids_page.count_label = f"{CASE_LIST_COUNT_LIMIT}+" if over else str(paginator.count)  # type: ignore[attr-defined]
    ids_page.pages_label = f"{paginator.num_pages}+" if over else str(paginator.num_pages)  # type: ignore[attr-defined]
    return ids_page


def case_list_rows_by_id(ids: list[int]) -> list[dict[str, Any]]:
    """The list's rows of these cases (dicts of `CASE_LIST_ROW_FIELDS`, in no order): the ORM's
    statement compiled once per process and, on PostgreSQL, prepared on its connection (the ids
    as one array: PostgreSQL's generic plan for it is the plan by primary key it makes for any
    ids), where building it took ~0.7 ms of CPU and planning its four joins ~1.5 ms a page."""

    def build(ids: list[int]) -> Any:
        return OnboardingCase.objects.filter(pk__in=ids).order_by().values_list(*CASE_LIST_ROW_FIELDS)

    read = frozen("onboarding.case_list_rows", build, [[OWNER]])
    return [dict(zip(CASE_LIST_ROW_FIELDS, row, strict=True)) for row in read.values(ids)]


def _name_rows(rows: list[dict[str, Any]], branches: dict[int, str], managers: dict[int, str]) -> None:
    """Each row's `branch_name` and `manager_name`, from the names given, else read (one query
    for each kind missing: a case of a branch or by a manager the options do not hold, such as
    a manager moved away or no longer one)."""
    from django.contrib.auth import get_user_model

    more_branches: dict[int, str] = {}
    missing = {row["branch_id"] for row in rows} - branches.keys()
    if missing:
        more_branches.update(Branch.objects.filter(pk__in=missing).values_list("pk", "name"))
    more_managers: dict[int, str] = {}
    missing = {row["account_manager_id"] for row in rows} - managers.keys() - {None}
    if missing:
        people = get_user_model().objects.filter(pk__in=missing).values_list("pk", "username", "display_name")
        more_managers.update((pk, shown or username) for pk, username, shown in people)
    for row in rows:
        b, m = row["branch_id"], row["account_manager_id"]
        row["branch_name"] = branches[b] if b in branches else more_branches[b]
        row["manager_name"] = None if m is None else managers[m] if m in managers else more_managers[m]


def case_timeline_queryset() -> QuerySet[CaseEvent]:
    """Events in timeline order with who did each (the case page prefetches them with it)."""
    return CaseEvent.objects.select_related("actor").order_by("created_at", "pk")


def case_timeline(*, case: OnboardingCase) -> QuerySet[CaseEvent]:
    return case_timeline_queryset().filter(case=case)


# The case page shows the newest events; the rest are a page or more of `case_history_page`.
CASE_PAGE_EVENTS = 30
CASE_HISTORY_PAGE = 100


@dataclass
class HistoryPage:
    """Events of one case in timeline order (oldest first) with the keys of its neighbours."""

    events: list[CaseEvent]
    older: int | None  # pk to pass as `before=` for the page of older events, if any
    newer: int | None  # pk to pass as `after=` for the page of newer events, if any


def _before(pk_key: tuple[Any, int]) -> Q:
    at, pk = pk_key
    return Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk)


def _after(pk_key: tuple[Any, int]) -> Q:
    at, pk = pk_key
    return Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)


def case_history_page(
    *, case: OnboardingCase, before: int | None = None, after: int | None = None, size: int = CASE_HISTORY_PAGE
) -> HistoryPage:
    """A page of the case's history by keyset on (created_at, pk): `before=pk` the `size`
    events just older than that event, `after=pk` those just newer, neither the oldest ones.
    A key that is not an event of this case is refused (Http404)."""
    qs = case_timeline(case=case)
    key = before if before is not None else after
    found = None
    if key is not None:
        found = CaseEvent.objects.filter(case=case, pk=key).values_list("created_at", "pk").first()
        if found is None:
            raise Http404("no such event")
    if found is not None and before is not None:
        rows = list(qs.filter(_before(found)).order_by("-created_at", "-pk")[: size + 1])
        more = len(rows) > size
        rows = rows[:size][::-1]
        return HistoryPage(
            events=rows, older=rows[0].pk if more and rows else None, newer=rows[-1].pk if rows else None
        )
    if found is not None:  # after=
        rows = list(qs.filter(_after(found)).order_by("created_at", "pk")[: size + 1])
    else:
        rows = list(qs.order_by("created_at", "pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    older = rows[0].pk if rows and (after is not None) else None
    return HistoryPage(events=rows, older=older, newer=rows[-1].pk if more and rows else None)


@dataclass
class KeysetPage:
    """Rows of one owner's append-only log (messages, a link's events) in time order, oldest
    first, with the keys of the neighbouring pages: a page costs the same however long the log."""

    rows: list[Any]
    older: int | None  # pk to pass as `before=` for the page of older rows, if any
    newer: int | None  # pk to pass as `after=` for the page of newer rows, if any


def keyset_page(
    qs: QuerySet[Any],
    *,
    before: int | None = None,
    after: int | None = None,
    newest: bool = False,
    size: int,
    field: str = "created_at",
) -> KeysetPage:
    """A page of `qs` (one owner's rows) by keyset on (`field`, pk): `before=pk` the `size`
    rows just older than that row, `after=pk` those just newer, `newest` the newest `size`,
    none of these the oldest. A key that is not a row of `qs` is refused (Http404)."""
    key = before if before is not None else after
    found = None
    if key is not None:
        found = qs.filter(pk=key).values_list(field, "pk").first()
        if found is None:
            raise Http404("no such row")

    def older_q(k: tuple[Any, int]) -> Q:
        return Q(**{f"{field}__lt": k[0]}) | Q(**{field: k[0], "pk__lt": k[1]})

    def newer_q(k: tuple[Any, int]) -> Q:
        return Q(**{f"{field}__gt": k[0]}) | Q(**{field: k[0], "pk__gt": k[1]})

    if newest or (found is not None and before is not None):
        older_qs = qs.filter(older_q(found)) if found is not None else qs
        rows = list(older_qs.order_by(f"-{field}", "-pk")[: size + 1])
        more = len(rows) > size
        rows = rows[:size][::-1]
        newer = rows[-1].pk if rows and found is not None else None
        return KeysetPage(rows=rows, older=rows[0].pk if more and rows else None, newer=newer)
    if found is not None:  # after=
        rows = list(qs.filter(newer_q(found)).order_by(field, "pk")[: size + 1])
    else:
        rows = list(qs.order_by(field, "pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    first = rows[0].pk if rows and after is not None else None
    return KeysetPage(rows=rows, older=first, newer=rows[-1].pk if more and rows else None)


def page_key(raw: str) -> int | None:
    """A `?before=`/`?after=` key from the address: empty is none, anything but digits a 404."""
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404("bad key")
    return int(raw)


def _sla_q() -> Q:
    return Q(kind=CaseEvent.Kind.TRANSITION, name__in=["suspend", "resume"]) | Q(kind=CaseEvent.Kind.REMINDER)


def _is_sla(e: CaseEvent) -> bool:
    return e.kind == CaseEvent.Kind.REMINDER or (
        e.kind == CaseEvent.Kind.TRANSITION and e.name in ("suspend", "resume")
    )


def _redo_q() -> Q:
    """Returns that marked documents to redo: the documents checklist looks for the latest one
    into the current visit (documents/checklist.py)."""
    return Q(kind=CaseEvent.Kind.TRANSITION, data__has_key="redo")


def case_page_events(
    *, case: OnboardingCase, size: int = CASE_PAGE_EVENTS
) -> tuple[HistoryPage, list[CaseEvent], list[CaseEvent]]:
    """One query for the case page's events: the newest `size` (+1: are there older ones?) and
    whatever the SLA panel reads however old (suspensions and resumptions for the time split,
    the sweep's reminder events) and the documents checklist (returns that marked documents to
    redo), not the whole history. Returns the timeline's page, the SLA events in timeline order
    and every event read (for the checklist: `case.page_events`)."""

    def build(owner: int) -> QuerySet[CaseEvent]:
        newest = CaseEvent.objects.filter(case_id=owner).order_by("-created_at", "-pk").values("pk")[: size + 1]
        return case_timeline_queryset().filter(case_id=owner).filter(_sla_q() | _redo_q() | Q(pk__in=newest))

    # The statement is compiled once per process (`config.statements.prepared`): only the case's id changes.
    read = prepared(f"case_page_events:{size}", build, CaseEvent, ["actor"])
    rows = [objects[0] for objects in read.rows(case.pk, share=True)]  # oldest first; each actor built once
    recent = rows[-(size + 1) :]  # the newest size + 1 of the history are all in `rows`
    more = len(recent) > size
    recent = recent[-size:]
    page = HistoryPage(events=recent, older=recent[0].pk if more else None, newer=None)
    return page, [e for e in rows if _is_sla(e)], rows


def case_test_results(*, case: OnboardingCase) -> list[ModuleTestResult]:
    """The case's joint-test results with who recorded each, oldest first: read once per page
    (`page_reads`) for the matrix and the portal's list of results."""
    from .page_reads import read_once

    def read() -> list[ModuleTestResult]:
        statement = prepared(
            "case_test_results",
            lambda owner: (
                ModuleTestResult.objects.filter(case_id=owner)
                .select_related("recorded_by")
                .order_by("recorded_at", "pk")
            ),
            ModuleTestResult,
            ["recorded_by"],
        )
        results = [objects[0] for objects in statement.rows(case.pk)]
        for result in results:  # as `case.test_results` would: each result's case is this one
            result._state.fields_cache["case"] = case
        return results

    return read_once(case, "onboarding.test_results_recorded_by", read)


def case_test_matrix(*, case: OnboardingCase) -> list[dict[str, Any]]:
    """One row per test case of each requested module, with its latest result and attempts."""
    # One read of the results (with who recorded each) gives both the latest and the attempts.
    results = case_test_results(case=case)
    latest = rules.joint_test_status(case, results=results)
    observed = observations_pending(case, results=results)
    counts: dict[tuple[str, str], int] = {}
    for r in results:
        counts[(r.module, r.test_case)] = counts.get((r.module, r.test_case), 0) + 1
    rows = []
    for module in case.modules:
        if module not in Module.values:
            continue
        for code, _label in TEST_CASES.get(module, ()):
            rows.append(
                {
                    "module": module,
                    "module_label": Module(module).label,
                    "code": code,
                    "label": joint_test_label(module, code),
                    "result": latest.get((module, code)),
                    "attempts": counts.get((module, code), 0),
                    # The test gateway's observation waiting for the customer's confirmation.
                    "observed": observed.get((module, code)),
                }
            )
    return rows


GATEWAY_OBSERVATIONS_KEY = "onboarding.gateway_observations"


def observations_pending(
    case: OnboardingCase, *, results: list[ModuleTestResult] | None = None
) -> dict[tuple[str, str], GatewayObservation]:
    """Per row of the joint-test matrix, the test gateway's latest observation still to be
    confirmed (onboarding/test_gateway.py). An observation is settled once a result confirms
    it, or a later result (typed, or a retest asked for) supersedes it."""
    if case.state not in declaration.states_with(Feature.JOINT_TESTS):
        return {}  # only joint testing takes results: outside it nothing waits for confirmation
    from .page_reads import read_once

    observations = read_once(
        case, GATEWAY_OBSERVATIONS_KEY, lambda: list(case.gateway_observations.order_by("observed_at", "pk"))
    )
    latest: dict[tuple[str, str], GatewayObservation] = {}
    for o in observations:
        if o.module in case.modules:
            latest[(o.module, o.test_case)] = o
    if not latest:
        return {}
    status = rules.joint_test_status(case, results=results)
    pending = {}
    for key, o in latest.items():
        result = status.get(key)
        if result is not None and (result.observation_id == o.pk or result.recorded_at >= o.recorded_at):
            continue
        pending[key] = o
    return pending


def testing_panel(*, case: OnboardingCase, user: Any) -> dict[str, Any]:
    """Joint testing (test package, results per test case) and the production configuration."""
    roles = user_roles(user)
    tech = case_in_scope(case, user) and Role.TECH_REVIEWER in roles
    return {
        "test_matrix": case_test_matrix(case=case),
        "production_config": getattr(case, "production_config", None),
        "test_package": getattr(case, "test_package", None),
        "can_record_tests": tech and case.state in declaration.states_with(Feature.JOINT_TESTS),
        "can_issue_production": tech and case.state in declaration.states_with(Feature.PRODUCTION_CONFIG),
        "show_tests": case.state in declaration.states_with(Feature.TEST_RESULTS_SHOWN, paused=True),
    }


def prime_test_results(cases: list[OnboardingCase]) -> None:
    """Read the joint-test results of several cases in one query (the portal home's cards)."""
    from .page_reads import prime

    by_case: dict[int, list[Any]] = {c.pk: [] for c in cases}
    for result in ModuleTestResult.objects.filter(case__in=[c.pk for c in cases]).order_by("recorded_at", "pk"):
        by_case[result.case_id].append(result)
    for case in cases:
        prime(case, rules.TEST_RESULTS_KEY, by_case[case.pk])
    # What the test gateway saw (one query whatever the cases' stages: the same count for any list).
    seen: dict[int, list[Any]] = {c.pk: [] for c in cases}
    for o in GatewayObservation.objects.filter(case__in=list(seen)).order_by("observed_at", "pk"):
        seen[o.case_id].append(o)
    for case in cases:
        prime(case, GATEWAY_OBSERVATIONS_KEY, seen[case.pk])


def test_package_defaults(*, case: OnboardingCase) -> dict[str, str]:
    """What a new test package starts from (issue 25: fewer steps): the bank's test address and
    interface document version as last issued to any customer; tech checks and may change them."""
    from .models import TestPackage

    last = TestPackage.objects.exclude(case=case).order_by("-recorded_at", "-pk").first()
    return {"test_endpoint": last.test_endpoint, "doc_version": last.doc_version} if last else {}


def production_config_defaults(*, case: OnboardingCase) -> dict[str, str]:
    """What a new production configuration starts from: the bank's production address as last
    issued, and the case's own settlement accounts (one a line)."""
    from .models import ProductionConfig

    last = ProductionConfig.objects.exclude(case=case).order_by("-recorded_at", "-pk").first()
    accounts = "\n".join(a["account_number"] for a in case.company.accounts if a.get("account_number"))
    return {**({"production_endpoint": last.production_endpoint} if last else {}), "production_accounts": accounts}
