"""The documents' part of "轮到我办理": uploads waiting for the person who reviews them.

Each document waits on the first reviewer its stage declares (`DocumentNeed.reviewers`): for
onboarding, the intake papers and the production verification form on the case's account
manager, the test report on head-office tech, the e-banking registration form on the outlet's
counter checker: the latest version of each, undecided, uploaded by someone else, while its
stage is still open. One item per case, naming the documents.
"""

from __future__ import annotations

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


def _waiting_on(role: str, user: Any) -> Q | None:
    """Documents waiting on `role` as their first reviewer: each need of each declared type, on
    that type's cases that have not yet left the stage collecting it (only the reader's own
    cases where the need says so: the account manager reviews their own cases' papers). A need
    applies to its own type only: the same kind collected by another type may be reviewed by
    someone else."""
    mine: Q | None = None
    for ct in declaration.CASE_TYPES.values():
        order = [s.code for s in ct.stages]
        for stage in ct.stages:
            for need in stage.documents:
                if not need.reviewers or need.reviewers[0] != role:
                    continue
                q = Q(document__kind=need.kind, document__case__state__in=order[: order.index(stage.code) + 1])
                if need.own_cases_only:
                    q &= Q(document__case__account_manager=user)
                mine = q if mine is None else mine | q
    return mine


def documents_to_review(user: Any) -> list[QueueItem]:
    mine = Q(pk__in=[])
    reviews = False
    for role in user_roles(user):
        waiting = _waiting_on(role, user)
        if waiting is not None:
            reviews = True
            mine |= waiting
    if not reviews:
        return []
    newer = DocumentVersion.objects.filter(document=OuterRef("document"), number__gt=OuterRef("number"))
    versions = (
        DocumentVersion.objects.filter(mine, decision="", document__generated=False)
        .filter(document__case__in=OnboardingCase.objects.filter(case_visible_q(user)).values("pk"))
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
