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

from django.db.models import Exists, F, Lookup, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from branches.roles import user_roles
from casetypes import declaration
from onboarding.models import OnboardingCase
from onboarding.queue import QUEUE_RELATED, QueueItem, case_url
from onboarding.selectors import case_visible_q

from .models import DocumentKind, DocumentVersion


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
    mine = Q(pk__in=[])
    for need in needs:
        q = Q(document__kind=need.kind, document__case__state__in=sorted(need.states))
        if need.own_cases_only:
            q &= Q(document__case__account_manager=user)
        mine |= q
    return mine


class _AnyOf(Lookup):  # type: ignore[type-arg]
    """`column = ANY(%s)` with the ids as one array on PostgreSQL: written as `IN (…)`, hundreds
    of ids cost Django and the driver about 5 ms a statement to write out (and PostgreSQL the
    same array to plan). Elsewhere `IN (…)`."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        ids = [int(i) for i in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*params, ids]
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*params, *ids]


def _waiting_by_case(needs: list[_Need], user: Any) -> Q | None:
    """For a staff member below head office: the candidate cases read first (their id, state and
    account manager, along the cases' indexes: a branch's cases in those states, hundreds), then
    which kinds wait on each, as `kind = … AND case = ANY(ids)`: the documents are then found
    by their (case, kind) key. With the needs said through the join to the cases, PostgreSQL
    walked every case of the bank testing each against the ORed needs (60–80 ms at 100,000
    cases, 15 ms more to plan) to find none; as a union of one join per need, 5–10 ms (each
    case's documents read by the case alone). None when no case can have any."""
    own = set().union(*(n.states for n in needs if n.own_cases_only))
    anyone = set().union(*(n.states for n in needs if not n.own_cases_only))
    candidates = Q(state__in=sorted(anyone)) | Q(state__in=sorted(own - anyone), account_manager=user)
    rows = (
        OnboardingCase.objects.filter(case_visible_q(user))
        .filter(candidates)
        .order_by()
        .values_list("pk", "state", "account_manager_id")
    )
    kinds_in: dict[str, list[tuple[str, bool]]] = {}  # state -> the kinds waiting in it
    for need in needs:
        for state in need.states:
            kinds_in.setdefault(state, []).append((need.kind, need.own_cases_only))
    by_kind: dict[str, set[int]] = {}
    for pk, state, manager in rows:
        for kind, own_only in kinds_in[state]:
            if not own_only or manager == user.pk:
                by_kind.setdefault(kind, set()).add(pk)
    if not by_kind:
        return None
    waiting = Q(pk__in=[])
    for kind, ids in sorted(by_kind.items()):
        waiting |= Q(document__kind=kind) & Q(_AnyOf(F("document__case_id"), sorted(ids)))
    return waiting


def documents_to_review(user: Any) -> list[QueueItem]:
    needs = [need for role in sorted(user_roles(user)) for need in _needs(role)]
    if not needs:
        return []
    newer = DocumentVersion.objects.filter(document=OuterRef("document"), number__gt=OuterRef("number"))
    # The waiting documents' case and kind only: with the cases' related rows joined as well,
    # PostgreSQL spent 10–40 ms planning the eight-table join (for under 1 ms of running it).
    # The cases shown come next, by id.
    waiting = (
        DocumentVersion.objects.filter(decision="", document__generated=False)
        .exclude(uploaded_by=user)
        .exclude(Exists(newer))
        .values_list("document__case_id", "document__kind")
        .order_by()  # the model's order would sort each arm of the union
    )
    if user.branch_id is not None and user.branch.parent_id is not None:
        mine = _waiting_by_case(needs, user)
        if mine is None:
            return []
        waiting = waiting.filter(mine)
    else:  # head office: every case of a stage is a candidate, thousands: said through the join
        visible = OnboardingCase.objects.filter(case_visible_q(user)).values("pk")
        waiting = waiting.filter(_waiting_q(needs, user) & Q(document__case__in=visible))
    kinds_by_case: dict[int, list[str]] = {}
    for case_id, kind in waiting.order_by("document__case_id", "document__kind")[:200]:
        kinds_by_case.setdefault(case_id, []).append(str(DocumentKind(kind).label))
    ids = list(kinds_by_case)[:50]
    if not ids:
        return []
    cases = OnboardingCase.objects.filter(pk__in=ids).select_related(*QUEUE_RELATED)
    by_id = {case.pk: case for case in cases}
    sep = pgettext("list separator", "、")
    return [
        QueueItem(
            case=case,
            action=_("审核文件:%(names)s") % {"names": sep.join(kinds_by_case[pk])},
            url=case_url(case, "documents"),
            due_at=case.current_visit.due_at if case.current_visit else None,
            kind="documents",
        )
        for pk in ids
        if (case := by_id.get(pk)) is not None
    ]
