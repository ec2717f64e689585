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

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from branches.roles import user_roles
from casetypes import declaration
from onboarding.models import OnboardingCase
from onboarding.queue import QueueItem, case_url
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


def _waiting_by_case(needs: list[_Need], user: Any) -> Q | None:
    """For a staff member below head office: the candidate cases read first (their id, state and
    account manager, along the cases' indexes: a branch's cases in those states, hundreds), then
    which kinds wait on each, as `kind IN … AND case IN (ids)`: the documents are then found by
    their case's key. With the needs said through the join to the cases, PostgreSQL walked
    every case of the bank testing each against the ORed needs (60–80 ms at 100,000 cases, 15
    ms more to plan) to find none. None when no case can have any."""
    own = set().union(*(n.states for n in needs if n.own_cases_only))
    anyone = set().union(*(n.states for n in needs if not n.own_cases_only))
    candidates = Q(state__in=sorted(anyone)) | Q(state__in=sorted(own - anyone), account_manager=user)
    rows = (
        OnboardingCase.objects.filter(case_visible_q(user))
        .filter(candidates)
        .values_list("pk", "state", "account_manager_id")
    )
    by_kind: dict[str, set[int]] = {}
    for pk, state, manager in rows:
        for need in needs:
            if state in need.states and (not need.own_cases_only or manager == user.pk):
                by_kind.setdefault(need.kind, set()).add(pk)
    if not by_kind:
        return None
    waiting = Q(pk__in=[])
    for kind, ids in sorted(by_kind.items()):
        waiting |= Q(document__kind=kind, document__case_id__in=sorted(ids))
    return waiting


def documents_to_review(user: Any) -> list[QueueItem]:
    needs = [need for role in sorted(user_roles(user)) for need in _needs(role)]
    if not needs:
        return []
    if user.branch_id is not None and user.branch.parent_id is not None:
        mine = _waiting_by_case(needs, user)
        if mine is None:
            return []
    else:  # head office: every case of a stage is a candidate, thousands: said through the join
        visible = OnboardingCase.objects.filter(case_visible_q(user)).values("pk")
        mine = _waiting_q(needs, user) & Q(document__case__in=visible)
    newer = DocumentVersion.objects.filter(document=OuterRef("document"), number__gt=OuterRef("number"))
    versions = (
        DocumentVersion.objects.filter(mine, decision="", document__generated=False)
        .exclude(uploaded_by=user)
        .exclude(Exists(newer))
        .select_related(
            "document__case__enterprise",
            "document__case__company_version",
            "document__case__branch",
            "document__case__current_visit",
        )
        .order_by("document__case_id", "document__kind")[:200]
    )
    by_case: dict[int, tuple[OnboardingCase, list[str]]] = {}
    for v in versions:
        case = v.document.case
        by_case.setdefault(case.pk, (case, []))[1].append(str(DocumentKind(v.document.kind).label))
    sep = pgettext("list separator", "、")
    return [
        QueueItem(
            case=case,
            action=_("审核文件:%(names)s") % {"names": sep.join(names)},
            url=case_url(case, "documents"),
            due_at=case.current_visit.due_at if case.current_visit else None,
            kind="documents",
        )
        for case, names in by_case.values()
    ][:50]
