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

from django.db.models import Exists, F, Lookup, OuterRef, Q, Subquery
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from branches.roles import user_roles
from casetypes import declaration
from onboarding.models import OnboardingCase
from onboarding.queue import QueueItem, case_url, company_name, queue_cases
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


class _InCases(Lookup):  # type: ignore[type-arg]
    """`column = ANY(ARRAY(cases))` on PostgreSQL, `column IN (cases)` elsewhere. PostgreSQL
    reads the cases once (an init plan) and then finds each document by its (case, kind) key;
    as `IN (cases)` ORed with other needs it would test every document of the kind against them."""

    lookup_name = "in_cases"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)  # a Subquery: "(SELECT …)"
        sql = f"{lhs} = ANY(ARRAY{rhs})" if connection.vendor == "postgresql" else f"{lhs} IN {rhs}"
        return sql, (*lhs_params, *rhs_params)


def _waiting_by_need(needs: list[_Need], user: Any) -> Q:
    """For a staff member below head office: each set of stages' kinds, on the cases of the
    reader's scope in those stages (their own only where the need says so), found along the
    cases' indexes (a branch's cases in those stages: hundreds) and then the documents by their
    (case, kind) key. With the needs said through the join to the cases, PostgreSQL walked
    every case of the bank testing each against the ORed needs (60–80 ms at 100,000 cases, 15
    ms more to plan); with the candidates read first and their ids written into the statement
    (hundreds), Django and the driver spent 5–10 ms writing them and PostgreSQL 8–40 ms
    planning them."""
    groups: dict[tuple[frozenset[str], bool], list[str]] = {}
    for need in needs:
        groups.setdefault((need.states, need.own_cases_only), []).append(need.kind)
    visible = OnboardingCase.objects.filter(case_visible_q(user)).order_by()
    waiting = Q(pk__in=[])
    for (states, own_only), kinds in groups.items():
        cases = visible.filter(state__in=sorted(states))
        if own_only:
            cases = cases.filter(account_manager=user)
        in_cases = _InCases(F("document__case_id"), Subquery(cases.values("pk")))
        waiting |= Q(document__kind__in=sorted(set(kinds))) & Q(in_cases)
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
        .order_by()
    )
    if user.branch_id is not None and user.branch.parent_id is not None:
        waiting = waiting.filter(_waiting_by_need(needs, user))
    else:  # head office: every case of a stage is a candidate, thousands: said through the join
        visible = OnboardingCase.objects.filter(case_visible_q(user)).values("pk")
        waiting = waiting.filter(_waiting_q(needs, user) & Q(document__case__in=visible))
    kinds_by_case: dict[int, list[str]] = {}
    for case_id, kind in waiting.order_by("document__case_id", "document__kind")[:200]:
        kinds_by_case.setdefault(case_id, []).append(str(DocumentKind(kind).label))
    ids = list(kinds_by_case)[:50]
    if not ids:
        return []
    by_id = {case.pk: case for case in queue_cases(ids)}
    sep = pgettext("list separator", "、")
    return [
        QueueItem(
            case=case,
            action=_("审核文件:%(names)s") % {"names": sep.join(kinds_by_case[pk])},
            url=case_url(case, "documents"),
            due_at=case.current_visit.due_at if case.current_visit else None,
            company=company_name(case),
            kind="documents",
        )
        for pk in ids
        if (case := by_id.get(pk)) is not None
    ]
