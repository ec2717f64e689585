""" "轮到我办理": every item waiting on a person, whatever their role, each with its action.

The queue is assembled from sources. Onboarding's own: the cases whose stage the person
holds (`held_items`, the action read from the stage and the holding role), change requests
waiting for a branch supervisor's decision, production configurations to issue. Apps above
onboarding add more in their `AppConfig.ready()` (`queue.sources.add(fn)`):
the counter (entries to confirm, the maker's entries, UKey issuance to complete) and documents
(uploads to review). A source that gives a finer action for a stage the person holds names
the feature and role in its key, so the held list leaves those stages to the source.

Every source takes the user and returns `QueueItem`s with one query whatever their number, so
the dashboard's query count does not grow with the queue. Items sort by due time (overdue
first), items without a due time last.

The dashboard shows the first `HELD_SHOWN` items of all kinds merged. Each kind (`kinds`: the
held cases, change requests, production configurations, documents) gives a page of its items
and their number, counted up to `HELD_COUNT_LIMIT`, in one statement (`held_page` and the
like); the heading gives the total over all kinds and a line links each kind to its pages on
`/queue/?kind=…` (`onboarding/queue_views.py`; without a kind, the held cases). The sources that
give only a list (`sources`: the counter's, the stand-in's, at most 50 of a kind) are counted as
listed and paged from the list.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models.base import ModelState
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from branches.roles import Role, user_roles
from casetypes import declaration
from casetypes.declaration import Feature
from casetypes.extensions import ExtensionPoint
from config.statements import read_cursor
from workcalendar import workcal

from .models import ChangeRequest, OnboardingCase
from .states import CUSTOMER, OPEN_STATES

# Working days a branch supervisor has to decide a change request (it holds up no stage, but
# the customer waits for the data to be right).
CHANGE_DECISION_DAYS = 2


@dataclass(frozen=True)
class QueueItem:
    case: OnboardingCase  # at least its id, public id, reference and state
    action: str  # what the person has to do, in their words
    url: str  # where it is done (the case page, at the form's anchor)
    due_at: dt.datetime | None
    company: str  # the company's name as the case shows it (`company_name`)
    kind: str = ""  # which source: "stage", "counter_check", "documents", ...
    since: dt.datetime | None = None  # when the case's current stage began (the held items)


def company_name(case: OnboardingCase) -> str:
    """The name a queue row shows: the case's company data version's, or the company's as it is
    (`OnboardingCase.company`), for a case read with both (the sources read by the ORM)."""
    version = case.company_version if case.company_version_id is not None else None
    return version.name if version is not None else case.enterprise.name


Source = Callable[[Any], list[QueueItem]]
# Other apps' sources of queue items, added from their `ready()`: ``queue.sources.add(fn)``.
# A source that gives a finer action for the stages with a feature, held by a role, is added
# under the key "feature:role" (``key="counter:counter_maker"``): the held list leaves those to it.
sources: ExtensionPoint[Source] = ExtensionPoint("onboarding.queue_sources", "sources of 轮到我办理 items")


def _handled() -> list[tuple[str, str]]:
    """(state, role) pairs a source covers instead of the held list."""
    pairs = []
    for key, _source in sources.items():
        if key:
            feature, role = key.split(":")
            pairs += [(state, role) for state in declaration.states_with(feature)]
    return pairs


_UUID_SLOT = uuid.UUID(int=0)


@functools.lru_cache(maxsize=8)
def _case_url_pattern(prefix: str) -> str:
    """The case page's address around its id, reversed once per script prefix (a dashboard
    writes a hundred of them: a `reverse` each cost 60–90 µs)."""
    return reverse("case_detail", args=[_UUID_SLOT]).replace(str(_UUID_SLOT), "{}")


def case_url_pattern() -> str:
    """The case page's address with "{}" for the case's public id (for a page of rows)."""
    return _case_url_pattern(get_script_prefix())


def case_url(case: OnboardingCase, anchor: str = "") -> str:
    url = _case_url_pattern(get_script_prefix()).format(case.public_id)
    return f"{url}#{anchor}" if anchor else url


def held_action(case: OnboardingCase) -> tuple[str, str]:
    """The action and the page anchor for the person who holds `case`'s stage now (`_held_action`)."""
    visit = case.current_visit
    return _held_action(case.state, visit.holder_role if visit is not None else None)


def _held_action(state: str, holder_role: str | None) -> tuple[str, str]:
    """The action and the page anchor for the person who holds a stage of `state` as
    `holder_role` (None: no visit yet), as its case type declares them (`Stage.actions`). A
    stage the customer holds is the account manager's to chase, unless the stage declares what
    the account manager does in it."""
    role = holder_role if holder_role is not None else CUSTOMER
    stage = declaration.stage(state)
    if role == CUSTOMER and stage is not None and stage.action_for(Role.ACCOUNT_MANAGER) and not stage.timed:
        role = Role.ACCOUNT_MANAGER  # an untimed start (a draft): the account manager completes it
    label = declaration.state_label(state)
    if role == CUSTOMER:
        return _("跟进客户:%(stage)s") % {"stage": label}, "next-step"
    action = stage.action_for(role) if stage is not None else None
    return (str(action.text), action.anchor) if action is not None else (label, "next-step")


# The held list's statements, written out (issue 26: Django spent 5–7 ms of CPU building the
# two queries it took, about 0.3 ms per joined table and condition, for 2–4 ms of running them).
# Every value is a parameter; only placeholders ("%s, %s") and constant names are joined in.
# `held` is the person's held cases in queue order (due time, then creation), at most
# HELD_COUNT_LIMIT + 1 of them: the page's rows are read from it and it is counted, in one
# statement. It is written twice below, once per way of finding them (`_HELD_MINE`, `_HELD_WALK`).
_HELD_PAGE = """
WITH held AS ({held})
SELECT c.id, c.public_id, c.reference, c.state,
       CASE WHEN c.company_version_id IS NULL THEN e.name ELSE cv.name END,
       v.holder_role, v.due_at, v.entered_at, (SELECT COUNT(*) FROM held)
FROM (SELECT id, due_at, created_at FROM held ORDER BY due_at, created_at, id LIMIT %s OFFSET %s) p
JOIN onboarding_onboardingcase c ON c.id = p.id
JOIN onboarding_enterprise e ON e.id = c.enterprise_id
LEFT JOIN companies_companyversion cv ON cv.id = c.company_version_id
LEFT JOIN onboarding_stagevisit v ON v.id = c.current_visit_id
ORDER BY p.due_at, p.created_at, p.id"""


def company_name_sql(case: str) -> str:
    """The company name the case row `case` shows, in SQL: its data version's, or the company's
    own for a case without one (`OnboardingCase.company`). A `CASE` of two scalar subqueries runs
    only its branch (joining both tables read both)."""
    return f"""CASE WHEN {case}.company_version_id IS NULL
            THEN (SELECT e.name FROM onboarding_enterprise e WHERE e.id = {case}.enterprise_id)
            ELSE (SELECT cv.name FROM companies_companyversion cv WHERE cv.id = {case}.company_version_id) END"""  # noqa: S608 (an alias of this module's statements, never input)


# On PostgreSQL `held` is the kept statements' keys only (`_HELD_KEPT`, `_HELD_MINE_KEPT`: at
# least the first `cap` cases in due order, with the ties of the last), counted up to `cap`;
# only the page's first rows in due order, with their ties, are looked up for the creation time
# that orders a tie (issue 26: every one of the 201 counted was, ~600 index pages a dashboard).
# The page's rows are among them: the first offset + limit rows in (due time, creation) order
# all come in the first offset + limit in due order with the ties of the last.
# The case row that orders the ties is the one the page shows (read once, not again after the
# cut: 50 lookups fewer), and the company's name is read from the one table that gives it (a
# `CASE` of two scalar subqueries runs only its branch: before, both tables were joined).
_HELD_PAGE_KEYS = f"""
WITH held AS ({{held}})
SELECT p.id, p.public_id, p.reference, p.state,
       {company_name_sql("p")},
       v.holder_role,
       (EXTRACT(EPOCH FROM v.due_at) * 1000000)::bigint, (EXTRACT(EPOCH FROM v.entered_at) * 1000000)::bigint,
       (SELECT LEAST(COUNT(*), %s) FROM held)
FROM (SELECT k.id, k.due_at, c.created_at, c.public_id, c.reference, c.state, c.enterprise_id,
             c.company_version_id, c.current_visit_id
      FROM (SELECT id, due_at FROM held ORDER BY due_at FETCH FIRST %s ROWS WITH TIES) k
      JOIN onboarding_onboardingcase c ON c.id = k.id
      ORDER BY k.due_at, c.created_at, k.id LIMIT %s OFFSET %s) p
LEFT JOIN onboarding_stagevisit v ON v.id = p.current_visit_id
ORDER BY p.due_at, p.created_at, p.id"""  # noqa: S608 (fragments made here, never input)

# `my_work` (an account manager, or several roles): the scope's cases in an open state with
# an open current visit (or none yet: a draft), held by one of the person's roles or, for an
# account manager, their own cases at their stage, in a first stage or with the customer.
_HELD_MINE = """SELECT c.id, v.due_at, c.created_at FROM onboarding_onboardingcase c
LEFT JOIN onboarding_stagevisit v ON v.id = c.current_visit_id
WHERE c.branch_id IN (SELECT b.id FROM branches_branch b WHERE b.path LIKE %s)
  AND c.state IN ({open}) AND c.state <> 'suspended' AND v.left_at IS NULL AND ({mine}){handled}
ORDER BY v.due_at, c.created_at, c.id LIMIT %s"""

# One role at a branch (a supervisor, the counter, head office): that role's open visits in due
# order (`open_visit_holder_due_idx`), each visit's case looked up by key and asked whether it
# is in scope, open, and not left to another source; the walk stops at the limit. Joined the
# other way, PostgreSQL read every open case of a tier-1 branch's subtree (about 5,000 at
# 100,000 cases) to keep 50.
_HELD_WALK = """SELECT id, due_at, created_at FROM (
  SELECT v.case_id AS id, v.due_at AS due_at,
    (SELECT c.created_at FROM onboarding_onboardingcase c
     WHERE c.id = v.case_id AND c.current_visit_id = v.id AND c.branch_id {scope}
       AND c.state IN ({open}) AND c.state NOT IN ({skipped})) AS created_at
  FROM onboarding_stagevisit v WHERE v.holder_role = %s AND v.left_at IS NULL
) w WHERE w.created_at IS NOT NULL
ORDER BY due_at, created_at, id LIMIT %s"""
# The same on PostgreSQL, from `OpenStage` (kept by triggers: the case's branch and state beside
# its open visit's holder and due time): the role's open stages in due order from
# `open_stage_held_idx` alone, the scope and the states checked in the index entry, up to the
# limit and the stages due at the same time as the last (`WITH TIES`): keys only, the page's
# cases are read by `_HELD_PAGE_KEYS`. The walk above read every visit's case (2,018 for 201 at
# a tier-1 supervisor of the 100,000-case bench: 9 ms).
_HELD_KEPT = """SELECT o.case_id AS id, o.due_at FROM onboarding_openstage o
  WHERE o.holder_role = %s AND o.left_at IS NULL AND o.branch_id {scope}
    AND o.state IN ({open}) AND o.state NOT IN ({skipped})
  ORDER BY o.due_at FETCH FIRST %s ROWS WITH TIES"""
# The same on PostgreSQL, from `OpenStage` (kept by triggers: the case's branch, state and
# account manager beside its open visit's holder and due time): an account manager's open stages
# from `open_stage_group_idx` (the scope's branches, the open states, the manager: the index
# alone), up to the limit and the stages due at the same time as the last (`WITH TIES`); and the
# cases without a current visit (a draft before its first stage: no `OpenStage` row), which the
# joined read finds by their first state. Keys only, as `_HELD_KEPT`.
# The joined read above read every open case of the manager's (688 at the 100,000-case bench's
# account manager, each one's visit looked up) to keep 190.
# Prepared on its connection (`held_page`): the cap is written in as a number (with `LIMIT $n`
# PostgreSQL's generic plan expects a tenth of the rows and walked the manager's every case in
# creation order for the drafts: 1,141 buffers instead of 18).
_HELD_MINE_KEPT = """(SELECT o.case_id AS id, o.due_at FROM onboarding_openstage o
   WHERE o.branch_id {scope} AND o.state IN ({open}) AND o.left_at IS NULL AND ({mine}){handled}
   ORDER BY o.due_at FETCH FIRST {cap:d} ROWS WITH TIES)
  UNION ALL
  (SELECT c.id, NULL FROM onboarding_onboardingcase c
   WHERE c.branch_id {scope} AND c.state IN ({drafts}) AND c.current_visit_id IS NULL AND c.account_manager_id = %s
   ORDER BY c.created_at, c.id LIMIT {cap:d})"""
# The scope's branches, read once for the statement (PostgreSQL: an init plan; `IN (SELECT …)`
# in the walk's subquery was a hash join of the branches for every visit walked).
_SCOPE = {
    "postgresql": "= ANY(ARRAY(SELECT b.id FROM branches_branch b WHERE b.path LIKE %s))",
    "other": "IN (SELECT b.id FROM branches_branch b WHERE b.path LIKE %s)",
}

# How far the held list is counted: a head-office role holds thousands of cases; beyond this
# the heading says "more than".
HELD_COUNT_LIMIT = 200
HELD_SHOWN = 50


def _marks(values: Any) -> str:
    return ", ".join(["%s"] * len(values))


def sql_codes(values: Any) -> str:
    """Codes of the declaration (states, roles, document kinds) as SQL constants, for a statement
    prepared once whose plan should know them (`held_page`, `documents.queue`): lower-case
    letters, digits and underscores only, checked; a reader's values stay parameters."""
    for value in values:
        if not _CODE.fullmatch(value):
            raise ValueError(f"not a code: {value!r}")  # a programming error in a declaration
    return ", ".join(f"'{value}'" for value in values)


_CODE = re.compile(r"[a-z][a-z0-9_]*")


def _one_role(roles: frozenset[str]) -> bool:
    """Whether the held list is one role's (`_HELD_KEPT`, `_HELD_WALK`), not `my_work`'s."""
    return len(roles) == 1 and Role.ACCOUNT_MANAGER not in roles


def _held_statement(user: Any, roles: frozenset[str], cap: int) -> tuple[str, list[Any]] | None:
    """The statement of `held` (the first `cap` held cases; on PostgreSQL their keys, at least
    the first `cap` in due order with the ties of the last: `_HELD_PAGE_KEYS`) and its
    parameters, or None when the person holds nothing."""
    if not user.is_active or user.branch_id is None or not roles:
        return None  # what `case_visible_q` gives nothing to
    scope = user.branch.path + "%"  # a path is digits and slashes: nothing LIKE would read
    open_states = list(OPEN_STATES)
    pairs = _handled()
    if _one_role(roles):
        role = next(iter(roles))
        skipped = ["suspended", *(state for state, by in pairs if by == role)]
        in_scope = _SCOPE.get(connection.vendor, _SCOPE["other"])
        if connection.vendor == "postgresql":
            sql = _HELD_KEPT.format(scope=in_scope, open=_marks(open_states), skipped=_marks(skipped))
            return sql, [role, scope, *open_states, *skipped, cap]
        sql = _HELD_WALK.format(scope=in_scope, open=_marks(open_states), skipped=_marks(skipped))
        return sql, [scope, *open_states, *skipped, role, cap]
    staff_roles = sorted(roles - {Role.ACCOUNT_MANAGER})
    if connection.vendor == "postgresql":
        return _held_mine_kept(user, roles, staff_roles, scope, open_states, pairs, cap)
    mine, params = [], []
    if staff_roles:
        mine.append(f"v.holder_role IN ({_marks(staff_roles)})")
        params += staff_roles
    if Role.ACCOUNT_MANAGER in roles:
        initial = list(declaration.initial_states())
        mine.append(f"(c.account_manager_id = %s AND (v.holder_role IN (%s, %s) OR c.state IN ({_marks(initial)})))")
        params += [user.pk, Role.ACCOUNT_MANAGER, CUSTOMER, *initial]
    handled = "".join("\n  AND NOT (c.state = %s AND COALESCE(v.holder_role = %s, FALSE))" for _pair in pairs)
    sql = _HELD_MINE.format(open=_marks(open_states), mine=" OR ".join(mine), handled=handled)
    return sql, [scope, *open_states, *params, *(value for pair in pairs for value in pair), cap]


def _held_mine_kept(
    user: Any, roles: frozenset[str], staff_roles: list[str], scope: str, open_states: list[str], pairs: Any, cap: int
) -> tuple[str, list[Any]]:
    """`_HELD_MINE`'s cases from `OpenStage` (`_HELD_MINE_KEPT`): the same conditions on the kept
    row (its state, branch and account manager are the case's, its holder and times the current
    visit's), and the cases without a current visit (which only an account manager's first
    states match: the holder of no visit is no role), in the same order."""
    in_scope = _SCOPE["postgresql"]
    running = [state for state in open_states if state != "suspended"]
    # The states and roles are the declaration's codes, written in (`sql_codes`): the statement is
    # prepared, and its one plan then knows which states are few; the reader's values (the
    # subtree, their id) are parameters.
    mine, params = [], []
    if staff_roles:
        mine.append(f"o.holder_role IN ({sql_codes(staff_roles)})")
    initial = list(declaration.initial_states())
    if Role.ACCOUNT_MANAGER in roles:
        holders = sql_codes([Role.ACCOUNT_MANAGER, CUSTOMER])
        mine.append(
            f"(o.account_manager_id = %s AND (o.holder_role IN ({holders}) OR o.state IN ({sql_codes(initial)})))"
        )
        params.append(user.pk)
    handled = "".join(
        f"\n     AND NOT (o.state = {sql_codes([state])} AND o.holder_role = {sql_codes([role])})"
        for state, role in pairs
    )
    # The cases without a visit: the joined read keeps them in a first state, of the manager's.
    drafts = [state for state in initial if state in running] if Role.ACCOUNT_MANAGER in roles else []
    sql = _HELD_MINE_KEPT.format(
        scope=in_scope,
        open=sql_codes(running),
        mine=" OR ".join(mine),
        handled=handled,
        drafts=sql_codes(drafts) if drafts else "NULL",  # (`IN (NULL)`: no row)
        cap=cap,
    )
    return sql, [scope, *params, scope, user.pk]


def micros(column: str) -> str:
    """A timestamp column as whole microseconds since 1970 (`from_micros` makes the moment again):
    the driver reads an integer in a fifth of the time Django's time-zone loader takes."""
    return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def from_micros(value: int | None) -> dt.datetime | None:
    """The aware moment (UTC, as the driver gives a timestamp) of `micros`'s integer."""
    return None if value is None else _EPOCH + dt.timedelta(microseconds=value)


def aware(value: Any) -> dt.datetime | None:
    """A timestamp as the ORM gives it (aware) from a hand-written statement: PostgreSQL's
    driver gives it so; SQLite gives text, or a naive time in UTC."""
    if value is None or (isinstance(value, dt.datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def row_case(pk: int, public_id: Any, reference: str, state: str) -> OnboardingCase:
    """The case a queue row names, from a written-out statement's columns (SQLite gives the
    public id as hex text): what an item's row and its link read of it.

    Made as `Model.from_db` makes a partly read instance (the other fields deferred, read on
    access), without running `__init__`, which walks every field of the model (15 µs a row, a
    dashboard has up to 150): the case model has no `__init__` of its own and nothing listens
    to its `pre_init`/`post_init` (`tests/test_dashboard_counts.py` checks both)."""
    if not isinstance(public_id, uuid.UUID):
        public_id = uuid.UUID(public_id)
    case = _new(OnboardingCase)
    case._state = model_state = ModelState()
    # `connection` is the default database's (its alias is DEFAULT_DB_ALIAS): asking the proxy
    # for it went through the thread's connections on every row (a fifth of a documents page).
    model_state.adding, model_state.db = False, DEFAULT_DB_ALIAS
    case.__dict__.update(id=pk, public_id=public_id, reference=reference, state=state)
    return case


_new = object.__new__


@dataclass(frozen=True)
class Held:
    """A page of the person's held items and how many they hold, counted up to `counted`: more
    than that when `total` exceeds it (`over_limit`)."""

    items: list[QueueItem]
    total: int
    counted: int = HELD_COUNT_LIMIT

    @property
    def over_limit(self) -> bool:
        return self.total > self.counted


def held_page(user: Any, *, offset: int = 0, limit: int | None = None) -> Held:
    """The cases whose stage the person holds (the selector `my_work`, less the stages another
    source gives a finer action for), `limit` (`HELD_SHOWN`) from `offset` in queue order, each with the
    action it needs; and their number, counted up to `HELD_COUNT_LIMIT` or to the page's end
    (whichever is further) and one more. One statement."""
    limit = HELD_SHOWN if limit is None else limit
    counted = max(HELD_COUNT_LIMIT, offset + limit)
    if getattr(user, "enterprise_id", None) is not None:
        return Held([], 0, counted)  # a company's users have no 轮到我办理
    roles = user_roles(user)
    statement = _held_statement(user, roles, counted + 1)
    if statement is None:
        return Held([], 0, counted)
    held, params = statement
    kept = connection.vendor == "postgresql"  # the kept statements: keys in due order
    # The kept statements are prepared on their connection (`read_cursor`): the subtree's branches
    # are an init plan, so the plan is the same for any value (PostgreSQL planned one role's on
    # every dashboard: 0.8 ms; an account manager's: 0.45–0.6 ms, for 0.7 ms of running it). An
    # account manager's generic plan reads what its custom plans read (551 buffers at the
    # 100,053-case bench's account manager; 542–546 at three others) since its caps are written
    # in as numbers (`_HELD_MINE_KEPT`).
    with read_cursor() if kept else connection.cursor() as cursor:
        if kept:
            cursor.execute(_HELD_PAGE_KEYS.format(held=held), [*params, counted + 1, offset + limit, limit, offset])
        else:
            cursor.execute(_HELD_PAGE.format(held=held), [*params, limit, offset])
        rows = cursor.fetchall()
    moment = from_micros if kept else aware  # (`_HELD_PAGE_KEYS` gives its times as `micros`)
    total = rows[0][8] if rows else 0
    if not rows and offset:
        total = held_page(user, limit=1).total  # a page past the end: still the number (rare)
    items = []
    actions: dict[tuple[str, str | None], tuple[str, str]] = {}  # one per stage and holder, translated once
    pattern = _case_url_pattern(get_script_prefix())
    for pk, public_id, reference, state, company, holder, due, entered, _total in rows:
        case = row_case(pk, public_id, reference, state)
        if (found := actions.get((state, holder))) is None:
            found = actions[state, holder] = _held_action(state, holder)
        action, anchor = found
        url = pattern.format(case.public_id)
        items.append(
            QueueItem(
                case=case,
                action=action,
                url=f"{url}#{anchor}",
                due_at=moment(due),
                company=company,
                since=moment(entered),
                kind="stage",
            )
        )
    return Held(items, total, counted)


def held_items(user: Any) -> list[QueueItem]:
    """The first cases whose stage the person holds, with the action each needs (`held_page`)."""
    return held_page(user).items


class Queue(list[QueueItem]):
    """The items shown, earliest due first, and how many wait in all: `total` sums each kind's
    number (`kinds`), each counted up to a limit (`over_limit`: past one). `held_hidden`: held
    cases beyond those shown (`held_over_limit`: past their limit); `/queue/` lists them all."""

    total: int = 0
    over_limit: bool = False
    held_hidden: int = 0
    held_over_limit: bool = False
    kinds: list[KindCount] = []  # set per instance by `queue_for` (never changed in place)

    @property
    def hidden(self) -> int:
        return self.total - len(self)


def queue_for(user: Any, *, page: Any = None) -> Queue:
    """Everything waiting on `user`, earliest due first: the first `HELD_SHOWN` of all the kinds
    merged (each kind's first `HELD_SHOWN`, the merged list cut), with each kind's number
    (`Queue.kinds`) and their sum (`Queue.total`, "more than" when a kind was counted only up to
    its limit).

    `page` (the request) carries the page's working-day calendar, so due times computed here
    and those the template shows read the holidays once."""
    if getattr(user, "enterprise_id", None) is not None:
        return Queue()
    items: list[QueueItem] = []
    counts: list[KindCount] = []
    held = Held([], 0)
    for key, kind in kinds.items():
        got = kind.page(user, offset=0, limit=HELD_SHOWN, request=page)
        if key == "stage":
            held = got
        items += got.items
        if got.total:
            counts.append(KindCount(str(key), kind.label, min(got.total, got.counted), got.over_limit))
    listed = [item for source in sources for item in source(user)]
    items += listed
    counts += _listed_counts(listed)
    queue = Queue(sorted(items, key=_queue_order)[:HELD_SHOWN])
    queue.kinds = counts
    queue.over_limit = any(count.over_limit for count in counts)
    queue.total = sum(count.count for count in counts)
    queue.held_hidden = min(held.total, held.counted) - sum(1 for item in queue if item.kind == "stage")
    queue.held_over_limit = held.over_limit
    return queue


_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def _queue_order(item: QueueItem) -> tuple[dt.datetime, int, str]:
    return (item.due_at or _FAR, item.case.pk, item.kind)


@dataclass(frozen=True)
class Kind:
    """A kind of item with its own page on `/queue/?kind=…`: its name in the queue's line of
    kinds, and `page(user, *, offset, limit, request)`, which gives `limit` items from `offset` in
    the kind's order and their number counted up to a limit (a `Held`), in one statement."""

    label: Any
    page: Callable[..., Held]


# Every kind that gives pages, by the key its address names; onboarding's own below, other apps'
# from their `ready()` (``queue.kinds.add(Kind(…), key="documents")``). The sources that give
# only a list (`sources`) are counted as listed (`_listed_counts`).
kinds: ExtensionPoint[Kind] = ExtensionPoint("onboarding.queue_kinds", "kinds of 轮到我办理 items", unique_keys=True)
# The names of the listed sources' kinds (``queue.kind_labels.add(_("柜面复核"), key="counter_check")``).
kind_labels: ExtensionPoint[Any] = ExtensionPoint("onboarding.queue_kind_labels", "names of 轮到我办理's listed kinds")
# How many items a listed source gives at most of a kind: reaching it, its number reads "more than".
LISTED_LIMIT = 50


@dataclass(frozen=True)
class KindCount:
    """A kind the person has items of, their number (counted up to a limit: `over_limit` past
    it) and where they are listed."""

    key: str
    label: Any
    count: int
    over_limit: bool

    @property
    def url(self) -> str:
        return reverse("queue_all") + ("" if self.key == "stage" else f"?kind={self.key}")


def _listed_counts(listed: list[QueueItem]) -> list[KindCount]:
    found: dict[str, int] = {}
    for item in listed:
        found[item.kind] = found.get(item.kind, 0) + 1
    return [KindCount(key, kind_labels.one(key) or key, count, count >= LISTED_LIMIT) for key, count in found.items()]


def kind_page(key: str) -> Callable[..., Held] | None:
    """The page function of the kind named `key` (a paged kind's, or a listed source's kind),
    or None when no kind has that name."""
    kind = kinds.one(key)
    if kind is not None:
        return kind.page
    if kind_labels.one(key) is None:
        return None

    def listed_page(user: Any, *, offset: int, limit: int, request: Any = None) -> Held:
        found = sorted((i for source in sources for i in source(user) if i.kind == key), key=_queue_order)
        over = len(found) >= LISTED_LIMIT  # the source gives no more: "more than"
        return Held(found[offset : offset + limit], len(found) + over, len(found))

    return listed_page


def kind_label(key: str) -> Any:
    kind = kinds.one(key)
    return kind.label if kind is not None else kind_labels.one(key)


def _page_or_count(page: Callable[..., Held], user: Any, rows: list[Any], offset: int, **kwargs: Any) -> int | None:
    """A page past the end has no row to carry the count: the number, read from the first page (rare)."""
    if rows or not offset:
        return None
    return page(user, offset=0, limit=1, **kwargs).total


def production_configs_to_issue(user: Any) -> list[QueueItem]:
    """Head-office tech: the first cases in a stage that issues the production configuration, still without one."""
    return production_page(user).items


def production_page(user: Any, *, offset: int = 0, limit: int = HELD_SHOWN, request: Any = None) -> Held:
    """Head-office tech's production configurations to issue, `limit` from `offset` earliest due
    first, and their number counted up to `HELD_COUNT_LIMIT` (or the page's end). One statement."""
    counted = max(HELD_COUNT_LIMIT, offset + limit)
    if Role.TECH_REVIEWER not in user_roles(user):
        return Held([], 0, counted)
    if user.branch_id is None or not user.is_active:
        return Held([], 0, counted)  # what `case_visible_q` gives nothing to
    states = list(declaration.states_with(Feature.PRODUCTION_CONFIG))
    if not states:
        return Held([], 0, counted)
    kept = connection.vendor == "postgresql"
    keys = _PRODUCTION_KEYS["postgresql" if kept else "other"].format(states=_marks(states))
    # On PostgreSQL prepared on its connection (`read_cursor`): the subtree's branches are an init
    # plan, so the plan is the same for any value; the due times as `micros`.
    with read_cursor() if kept else connection.cursor() as cursor:
        cursor.execute(
            _PRODUCTION_TO_ISSUE.format(keys=keys, due=micros("p.due_at") if kept else "p.due_at"),
            [*states, user.branch.path + "%", counted + 1, limit, offset],
        )
        rows = cursor.fetchall()
    total = rows[0][6] if rows else _page_or_count(production_page, user, rows, offset) or 0
    moment = from_micros if kept else aware
    action = _("登记生产配置")
    pattern = _case_url_pattern(get_script_prefix())
    items = []
    for pk, public_id, reference, state, company, due, _total in rows:
        case = row_case(pk, public_id, reference, state)
        items.append(
            QueueItem(
                case=case,
                action=action,
                url=pattern.format(case.public_id) + "#production",
                due_at=moment(due),
                company=company,
                kind="production",
            )
        )
    return Held(items, total, counted)


# Head-office tech's production configurations to issue: the scope's cases in such a stage
# without one, earliest due first, found by their keys (`_PRODUCTION_KEYS`, at most the counted
# limit and one more: they are counted) and only the page's then joined to what a row shows. The
# ORM's read (`case_list`, five tables joined) joined all 2,558 such cases of the 100,000-case
# bench before sorting them: 37 ms to plan, 100 ms to run.
_PRODUCTION_TO_ISSUE = """WITH keys AS ({keys})
SELECT c.id, c.public_id, c.reference, c.state,
       CASE WHEN c.company_version_id IS NULL THEN e.name ELSE cv.name END, {due}, (SELECT COUNT(*) FROM keys)
FROM (SELECT id, due_at FROM keys ORDER BY due_at, id LIMIT %s OFFSET %s) p
JOIN onboarding_onboardingcase c ON c.id = p.id
JOIN onboarding_enterprise e ON e.id = c.enterprise_id
LEFT JOIN companies_companyversion cv ON cv.id = c.company_version_id
ORDER BY p.due_at, p.id"""
_PRODUCTION_KEYS = {
    # Only the cases with a current stage (as the ORM's read left out the others).
    "other": """SELECT c.id, v.due_at FROM onboarding_onboardingcase c
  JOIN onboarding_stagevisit v ON v.id = c.current_visit_id
  WHERE c.state IN ({states}) AND c.branch_id IN (SELECT b.id FROM branches_branch b WHERE b.path LIKE %s)
    AND NOT EXISTS (SELECT 1 FROM onboarding_productionconfig pc WHERE pc.case_id = c.id)
  ORDER BY v.due_at, c.id LIMIT %s""",
    # PostgreSQL: the same cases from `OpenStage` (an open case's state, branch, current visit's
    # due time and whether it has a configuration, kept by triggers), in due order from
    # `open_stage_unconfigured_idx` alone until enough in scope are found. Checking each case of the
    # stage for a configuration read all 5,016 of the 100,000-case bench (11,000 buffers, 15 ms);
    # joined from the cases, PostgreSQL scanned the whole table along an index of the current visits.
    "postgresql": """SELECT o.case_id AS id, o.due_at FROM onboarding_openstage o
  WHERE o.state IN ({states}) AND NOT o.has_production_config
    AND o.branch_id = ANY(ARRAY(SELECT b.id FROM branches_branch b WHERE b.path LIKE %s))
  ORDER BY o.due_at, o.case_id LIMIT %s""",
}


def change_requests_to_decide(user: Any, *, page: Any = None) -> list[QueueItem]:
    """Branch supervisors: the first pending change requests of their subtree that someone else filed."""
    return change_requests_page(user, request=page).items


def change_requests_page(user: Any, *, offset: int = 0, limit: int = HELD_SHOWN, request: Any = None) -> Held:
    """Branch supervisors: pending change requests of their subtree that someone else filed,
    `limit` from `offset` oldest first, and their number (all counted: a bank has a few hundred).
    `request` carries the page's working-day calendar."""
    if Role.BRANCH_SUPERVISOR not in user_roles(user):
        return Held([], 0)
    if user.branch_id is None or not user.is_active:
        return Held([], 0)  # what `case_visible_q` gives nothing to
    # The pending requests (a few hundred in a bank), each checked against its own case's
    # branch, with only what the queue shows of the case: the scope as a subquery of every case
    # in it, and two more joins, took PostgreSQL 13–20 ms to plan and up to 30 ms to run. Written
    # out with only the columns a row shows (the ORM's statement read every column of five
    # tables: 2–3 ms to plan, ~3 ms of CPU to build and load).
    as_micros = connection.vendor == "postgresql"  # the filing time as `micros` (faster to load)
    if as_micros:  # the kept `PendingChange` rows of the subtree's branches; prepared (an init plan)
        with read_cursor() as cursor:
            cursor.execute(_PENDING_CHANGES_KEPT, [user.branch.path + "%", user.pk, limit, offset])
            pending = cursor.fetchall()
    else:
        with connection.cursor() as cursor:
            sql = _PENDING_CHANGES.format(filed="r.filed_at", scope=_SCOPE["other"])
            cursor.execute(sql, [ChangeRequest.Status.PENDING.value, user.branch.path + "%", user.pk, limit, offset])
            pending = cursor.fetchall()
    if not pending:
        total = _page_or_count(change_requests_page, user, pending, offset) or 0
        return Held([], total, max(total, offset + limit))
    total = pending[0][6]
    moment = from_micros if as_micros else aware
    filed = [cast(dt.datetime, moment(row[0])) for row in pending]  # filed_at is NOT NULL
    days = [timezone.localtime(at).date() for at in filed]
    cal = workcal.page_calendar(request, min(days), max(days) + dt.timedelta(days=30))
    action = _("审批企业资料变更申请")
    pattern = _case_url_pattern(get_script_prefix())
    items = []
    for at, (_filed, pk, public_id, reference, state, company, _total) in zip(filed, pending, strict=True):
        case = row_case(pk, public_id, reference, state)
        items.append(
            QueueItem(
                case=case,
                action=action,
                url=pattern.format(case.public_id) + "#company-changes",
                due_at=cal.add_working_days(at, CHANGE_DECISION_DAYS),
                company=company,
                kind="change_request",
            )
        )
    return Held(items, total, max(total, offset + limit))


# The supervisor's change requests to decide: the pending requests of the subtree's cases that
# someone else filed, oldest first, each with what its row shows of the case (as `_HELD_PAGE`),
# and how many there are (a window over them all: they are few). The subtree's branches are read
# once (`_SCOPE`; on PostgreSQL an init plan): joined to each case's branch row, the statement
# took ~1.5 ms to plan (five tables) for ~1 ms of running it. The company's name as in
# `_HELD_PAGE_KEYS`: from the one table that gives it.
_PENDING_CHANGES = f"""SELECT {{filed}}, c.id, c.public_id, c.reference, c.state,
       {company_name_sql("c")},
       COUNT(*) OVER ()
FROM onboarding_changerequest r
JOIN onboarding_onboardingcase c ON c.id = r.case_id
WHERE r.status = %s AND c.branch_id {{scope}} AND r.filed_by_id <> %s
ORDER BY r.filed_at, r.id LIMIT %s OFFSET %s"""  # noqa: S608 (fragments made here, never input)
# The same on PostgreSQL from `PendingChange` (the pending requests with their cases' branches,
# kept by triggers): the subtree's by `pending_change_branch_idx`, then only their cases. Above,
# every pending request of the bank was read and its case looked up (302 requests, 1,126
# buffers at the 100,000-case bench, for a tier-1 branch's 26).
_PENDING_CHANGES_KEPT = f"""SELECT {micros("p.filed_at")}, c.id, c.public_id, c.reference, c.state,
       {company_name_sql("c")},
       COUNT(*) OVER ()
FROM onboarding_pendingchange p
JOIN onboarding_onboardingcase c ON c.id = p.case_id
WHERE p.branch_id {_SCOPE["postgresql"]} AND p.filed_by_id <> %s
ORDER BY p.filed_at, p.request_id LIMIT %s OFFSET %s"""  # noqa: S608 (fragments made here, never input)


def _held_kind_page(user: Any, *, offset: int = 0, limit: int = HELD_SHOWN, request: Any = None) -> Held:
    return held_page(user, offset=offset, limit=limit)


kinds.add(Kind(gettext_lazy("轮到我办理的案件"), _held_kind_page), key="stage")
kinds.add(Kind(gettext_lazy("审批企业资料变更申请"), change_requests_page), key="change_request")
kinds.add(Kind(gettext_lazy("登记生产配置"), production_page), key="production")
