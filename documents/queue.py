"""The documents' part of "轮到我办理": uploads waiting for the person who reviews them.

Each document waits on the first reviewer its stage declares (`DocumentNeed.reviewers`): for
onboarding, the intake papers and the production verification form on the case's account
manager, the test report on head-office tech, the e-banking registration form on the outlet's
counter checker: the latest version of each, undecided, uploaded by someone else, while its
stage is still open. One item per case, naming the documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from branches.roles import user_roles
from casetypes import declaration
from config.statements import read_cursor
from onboarding import queue
from onboarding.queue import (
    HELD_SHOWN,
    Held,
    QueueItem,
    aware,
    case_url_pattern,
    company_name_sql,
    from_micros,
    micros,
    row_case,
    sql_codes,
)

from .models import DocumentKind, DocumentVersion  # noqa: F401  (the versions' model: tests read it here)


@dataclass(frozen=True)
class _Need:
    kind: str
    states: frozenset[str]  # the type's stages up to the one collecting it
    own_cases_only: bool


def _needs(role: str) -> list[_Need]:
    """Documents waiting on `role` as their first reviewer: each need of each declared type, on
    that type's cases that have not yet left the stage collecting it (only the reader's own
    cases where the need says so: the account manager reviews their own cases' papers). A need
    applies to its own type only (the states are the type's): the same kind collected by
    another type may be reviewed by someone else."""
    needs = []
    for ct in declaration.CASE_TYPES.values():
        order = [s.code for s in ct.stages]
        for stage in ct.stages:
            for need in stage.documents:
                if need.reviewers and need.reviewers[0] == role:
                    states = frozenset(order[: order.index(stage.code) + 1])
                    needs.append(_Need(need.kind, states, need.own_cases_only))
    return needs


def _waiting_q(needs: list[_Need], user: Any) -> Q:
    """The needs as a filter of document versions through the join to their cases: the plain
    read that `tests/test_dashboard_counts.py` compares the written-out statement with."""
    mine = Q(pk__in=[])
    for need in needs:
        q = Q(document__kind=need.kind, document__case__state__in=sorted(need.states))
        if need.own_cases_only:
            q &= Q(document__case__account_manager=user)
        mine |= q
    return mine


# The waiting documents and what their rows show of their cases, written out (issue 26: Django
# spent about 5 ms of CPU building the statement, a condition per need, for about 1 ms of
# running it). Every value is a parameter; only placeholders and constant names are joined in.
# `{waiting}` is the uploaded documents whose latest version is undecided, with that version's
# uploader (see `_waiting_source`); `{needs}` one condition per set of stages (see
# `_needs_sql`; `TRUE` where `{waiting}` says them: `_waiting_union`). The company's name is read
# from the one table that gives it (`onboarding.queue._HELD_PAGE_KEYS`). Only those uploaded by someone else; the (case, kind) pairs of the cases counted
# (`_pairs_read`), of which a page of cases is shown: only theirs are joined to what the rows
# show. The cases are counted in the same statement.
_WAITING = f"""
WITH waiting AS (
  SELECT w.case_id, w.kind FROM {{waiting}} w{{join}}
  WHERE w.uploaded_by_id <> %s AND ({{needs}})
  ORDER BY w.case_id, w.kind LIMIT {{pairs:d}}),
shown AS (SELECT DISTINCT case_id FROM waiting ORDER BY case_id LIMIT %s OFFSET %s)
SELECT w.case_id, w.kind, c.public_id, c.reference, c.state,
       {company_name_sql("c")},
       {{due}}, (SELECT COUNT(DISTINCT case_id) FROM waiting)
FROM shown s
JOIN waiting w ON w.case_id = s.case_id
JOIN onboarding_onboardingcase c ON c.id = w.case_id
LEFT JOIN onboarding_stagevisit v ON v.id = c.current_visit_id
ORDER BY w.case_id, w.kind"""  # noqa: S608 (fragments made here, never input)

# PostgreSQL: the rows its triggers keep (`WaitingDocument`, a few per case in progress). At
# head office every case of a stage is a candidate (tens of thousands at 100,000 cases): reading
# the documents themselves joined every document of the kind to them and checked each latest
# version (27 ms); the kept rows are walked in the queue's order and the walk stops at 200.
_WAITING_KEPT = "documents_waitingdocument"
# Elsewhere (SQLite): the same rows read from the versions (each document's latest, undecided,
# of an uploaded document).
_WAITING_READ = (
    "(SELECT d.case_id, d.kind, dv.uploaded_by_id FROM documents_documentversion dv"
    " JOIN documents_document d ON d.id = dv.document_id"
    " WHERE dv.decision = '' AND NOT d.generated AND NOT EXISTS (SELECT 1 FROM documents_documentversion n"
    " WHERE n.document_id = dv.document_id AND n.number > dv.number))"
)


# PostgreSQL at head office: the kept rows in the queue's order, each one's case looked up by its
# key (a `LATERAL` read that cannot be turned into a join: `OFFSET 0`) and asked whether it is in
# scope and in a stage collecting the document; what a row shows of the case is read there too,
# so only the page's companies and visits are joined afterwards. Joined to the cases instead,
# PostgreSQL merge-joined them along the cases' key, reading every case from the first waiting one
# to the 201st (3,456 cases, 852 buffers at 100,000 cases) and the page's cases again. The
# statement is prepared on its connection (`read_cursor`): its plan is the same for any value (the
# subtree's branches are an init plan, the walk is forced), so PostgreSQL plans it once instead of
# on every dashboard (about 1 ms). Due times as `micros`.
_WAITING_HEAD_OFFICE = """
WITH waiting AS (
  SELECT w.case_id, w.kind, c.public_id, c.reference, c.state, c.enterprise_id, c.company_version_id,
         c.current_visit_id
  FROM documents_waitingdocument w
  CROSS JOIN LATERAL (SELECT c.public_id, c.reference, c.state, c.enterprise_id, c.company_version_id,
         c.current_visit_id, c.account_manager_id FROM onboarding_onboardingcase c
       WHERE c.id = w.case_id AND c.branch_id = ANY(ARRAY({scope})) OFFSET 0) c
  WHERE w.uploaded_by_id <> %s AND ({needs})
  ORDER BY w.case_id, w.kind LIMIT {pairs:d}),
shown AS (SELECT DISTINCT case_id FROM waiting ORDER BY case_id LIMIT {limit:d} OFFSET {offset:d})
SELECT w.case_id, w.kind, w.public_id, w.reference, w.state,
       CASE WHEN w.company_version_id IS NULL THEN e.name ELSE cv.name END, {due},
       (SELECT COUNT(DISTINCT case_id) FROM waiting)
FROM shown s
JOIN waiting w ON w.case_id = s.case_id
JOIN onboarding_enterprise e ON e.id = w.enterprise_id
LEFT JOIN companies_companyversion cv ON cv.id = w.company_version_id
LEFT JOIN onboarding_stagevisit v ON v.id = w.current_visit_id
ORDER BY w.case_id, w.kind"""


def _waiting_source() -> str:
    return _WAITING_KEPT if connection.vendor == "postgresql" else _WAITING_READ


_SCOPE = "SELECT b.id FROM branches_branch b WHERE b.path LIKE %s"


def _marks(values: Any) -> str:
    return ", ".join(["%s"] * len(values))


def _need_sets(needs: list[_Need]) -> list[tuple[list[str], list[str], bool]]:
    """The needs grouped by the stages that collect them and whether only one's own cases count:
    each set's kinds and states in order (the statement's text is the same for the same needs)."""
    groups: dict[tuple[frozenset[str], bool], list[str]] = {}
    for need in needs:
        groups.setdefault((need.states, need.own_cases_only), []).append(need.kind)
    return [(sorted(set(kinds)), sorted(states), own) for (states, own), kinds in groups.items()]


def _needs_sql(needs: list[_Need], user: Any, *, head_office: bool) -> tuple[str, list[Any], str, list[Any]]:
    """The join to the cases (if any) and its parameters, the condition on the documents and its
    parameters.

    Below head office (SQLite; PostgreSQL reads `_waiting_union`): each set of stages' kinds,
    on the cases of the reader's scope in those stages (their own only where the need says
    so), found along the cases' indexes (a branch's cases in those stages: hundreds) and then
    the waiting documents by their (case, kind) key. With the needs said through the join to
    the cases, PostgreSQL walked every case of the bank testing each against the ORed needs
    (60–80 ms at 100,000 cases).

    Head office: every case of a stage is a candidate, thousands: said through the join, from
    the waiting rows' side (on PostgreSQL the kept rows in the queue's order, up to 200 that
    pass)."""
    scope = user.branch.path + "%"  # a path is digits and slashes: nothing LIKE would read
    parts, params = [], []
    for kinds, states_, own_only in _need_sets(needs):
        own = " AND c.account_manager_id = %s" if own_only else ""
        if head_office:
            parts.append(f"(w.kind IN ({_marks(kinds)}) AND c.state IN ({_marks(states_)}){own})")
        else:
            cases = (  # placeholders and constant names only
                f"SELECT c.id FROM onboarding_onboardingcase c WHERE c.branch_id IN ({_SCOPE})"  # noqa: S608
                f" AND c.state IN ({_marks(states_)}){own}"
            )
            parts.append(f"(w.kind IN ({_marks(kinds)}) AND w.case_id IN ({cases}))")
            params += [*kinds, scope, *states_, *([user.pk] if own_only else [])]
            continue
        params += [*kinds, *states_, *([user.pk] if own_only else [])]
    if not head_office:
        return "", [], " OR ".join(parts), params
    join = f"\n  JOIN onboarding_onboardingcase c ON c.id = w.case_id AND c.branch_id IN ({_SCOPE})"
    return join, [scope], " OR ".join(parts), params


# Below head office on PostgreSQL: the kept rows of each set of stages' kinds on the scope's
# cases in those stages (`_needs_sql`), one `SELECT` a set, their union the rows any set
# matches (each row once, as the conditions ORed). Said apart, each is planned on its own: where
# few rows of the kinds wait (`waiting_document_kind_idx`), they are read first and their cases
# checked; where many do, the candidate cases are read and each one's rows found by
# `waiting_document_case_idx`. ORed in one condition, every candidate case of every set was
# looked up (an account manager of the 100,053-case bench: 566 cases for a form none of them
# had waiting, 1,303 buffers, 4 ms; now 37 buffers, 0.3 ms).
# The statement is prepared on its connection (`documents_page`): PostgreSQL took 1.1–1.2 ms to
# plan its six sets for 0.2–1.8 ms of running them. The kinds and states are the declaration's
# codes, written in as constants (`queue.sql_codes`), so the one plan made for every reader knows how
# many rows wait of each kind: with a parameter in their place it expected 5,618 rows of a
# kind none of which waited, and hashed every waiting row (2,381 buffers, 7 ms, instead of 1,678,
# 1.8 ms for the bench's busiest account manager). The values (the subtree, the reader) are
# parameters; the subtree is an init plan.
_WAITING_SET = (
    "SELECT w.document_id, w.case_id, w.kind, w.uploaded_by_id FROM documents_waitingdocument w"
    " WHERE w.kind IN ({kinds}) AND w.case_id IN (SELECT c.id FROM onboarding_onboardingcase c"
    " WHERE c.branch_id = ANY(ARRAY(SELECT b.id FROM branches_branch b WHERE b.path LIKE %s))"
    " AND c.state IN ({states}){own})"
)


def _waiting_union(needs: list[_Need], user: Any) -> tuple[str, list[Any]]:
    """`{waiting}` below head office on PostgreSQL (`_WAITING_SET`), and its parameters."""
    scope = user.branch.path + "%"  # a path is digits and slashes: nothing LIKE would read
    parts, params = [], []
    for kinds, states_, own_only in _need_sets(needs):
        own = " AND c.account_manager_id = %s" if own_only else ""
        parts.append(_WAITING_SET.format(kinds=sql_codes(kinds), states=sql_codes(states_), own=own))
        params += [scope, *([user.pk] if own_only else [])]
    return "(" + "\n  UNION ".join(parts) + ")", params


def _pairs_read(needs: list[_Need], cases: int) -> int:
    """How many (case, kind) pairs `_WAITING` reads to hold the first `cases` cases' pairs: a
    case has at most one pair per kind. Cut there, the pairs name at least `cases` cases when
    more wait: the count then says "more than"."""
    return cases * len({need.kind for need in needs})


def documents_to_review(user: Any) -> list[QueueItem]:
    """The first cases with uploads waiting on the person's review (`documents_page`)."""
    return documents_page(user).items


def documents_page(user: Any, *, offset: int = 0, limit: int = HELD_SHOWN, request: Any = None) -> Held:
    """The cases with uploads waiting on the person's review, `limit` from `offset` in case
    order, one item per case naming its documents; and their number, counted up to
    `HELD_COUNT_LIMIT` (or the page's end). One statement."""
    counted = max(queue.HELD_COUNT_LIMIT, offset + limit)
    needs = [need for role in sorted(user_roles(user)) for need in _needs(role)]
    if not needs or not user.is_active or user.branch_id is None:
        return Held([], 0, counted)  # nothing to review, or nothing in scope (`case_visible_q`)
    head_office = user.branch.parent_id is None
    pairs = _pairs_read(needs, counted + 1)
    postgresql = connection.vendor == "postgresql"
    kept = head_office and postgresql
    # Prepared on PostgreSQL: its plan is the same for any reader (above, and `_WAITING_SET`).
    due = micros("v.due_at") if postgresql else "v.due_at"  # PostgreSQL: `micros` (faster to load)
    if kept:
        join, join_params, condition, params = _needs_sql(needs, user, head_office=True)
        statement = _WAITING_HEAD_OFFICE.format(
            scope=_SCOPE, needs=condition, due=due, pairs=pairs, limit=limit, offset=offset
        )
        values = [*join_params, user.pk, *params]
    elif postgresql:
        source, source_params = _waiting_union(needs, user)
        statement = _WAITING.format(waiting=source, join="", needs="TRUE", due=due, pairs=pairs)
        values = [*source_params, user.pk, limit, offset]
    else:
        join, join_params, condition, params = _needs_sql(needs, user, head_office=head_office)
        statement = _WAITING.format(waiting=_waiting_source(), join=join, needs=condition, due=due, pairs=pairs)
        values = [*join_params, user.pk, *params, limit, offset]
    with read_cursor() if postgresql else connection.cursor() as cursor:
        cursor.execute(statement, values)
        rows = cursor.fetchall()
    if not rows:
        total = documents_page(user, limit=1).total if offset else 0  # a page past the end (rare)
        return Held([], total, counted)
    total = rows[0][-1]
    kinds_by_case: dict[int, list[str]] = {}
    shown: dict[int, tuple[Any, ...]] = {}
    labels: dict[str, str] = {}
    for case_id, kind, *case, _total in rows:
        if (label := labels.get(kind)) is None:
            label = labels[kind] = str(DocumentKind(kind).label)
        kinds_by_case.setdefault(case_id, []).append(label)
        shown.setdefault(case_id, tuple(case))
    sep = pgettext("list separator", "、")
    action = _("审核文件:%(names)s")  # translated once for the page
    pattern = case_url_pattern()
    items = []
    for pk in kinds_by_case:
        public_id, reference, state, company, due = shown[pk]
        case = row_case(pk, public_id, reference, state)
        items.append(
            QueueItem(
                case=case,
                action=action % {"names": sep.join(kinds_by_case[pk])},
                url=pattern.format(case.public_id) + "#documents",
                due_at=from_micros(due) if postgresql else aware(due),
                company=company,
                kind="documents",
            )
        )
    return Held(items, total, counted)
