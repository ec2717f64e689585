"""The documents' part of "轮到我办理": uploads waiting for the person who reviews them.

The intake papers and the production verification form wait on the case's account manager,
the test report on head-office tech, the e-banking registration form on the outlet's counter
checker: the latest version of each, undecided, uploaded by someone else, while its stage is
still open. One item per case, naming the documents.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from branches.roles import Role, user_roles
from onboarding.models import OnboardingCase
from onboarding.queue import QueueItem, case_url
from onboarding.selectors import case_visible_q
from onboarding.states import State

from .models import DocumentKind, DocumentVersion

_ORDER: list[str] = [State.DRAFT, State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL, State.TEST_PACKAGE_ISSUANCE,
          State.JOINT_TESTING, State.UKEY_ISSUANCE, State.PRODUCTION_VERIFICATION]  # fmt: skip
INTAKE_KINDS = (
    DocumentKind.APPLICATION_FORM,
    DocumentKind.SERVICE_AGREEMENT,
    DocumentKind.BUSINESS_LICENCE,
    DocumentKind.LEGAL_REP_ID,
    DocumentKind.HANDLER_ID,
    DocumentKind.AUTHORISATION_LETTER,
)
# The stage each document belongs to (checklist.requirements): reviewed until the case leaves it.
KIND_STAGE: dict[str, str] = {
    **{k: State.BRANCH_INTAKE for k in INTAKE_KINDS},
    DocumentKind.TEST_REPORT: State.JOINT_TESTING,
    DocumentKind.EBANKING_REGISTRATION: State.UKEY_ISSUANCE,
    DocumentKind.PRODUCTION_VERIFICATION: State.PRODUCTION_VERIFICATION,
}


def _open_q(kinds: tuple[str, ...]) -> Q:
    q = Q(pk__in=[])
    for kind in kinds:
        states = _ORDER[: _ORDER.index(KIND_STAGE[kind]) + 1]
        q |= Q(document__kind=kind, document__case__state__in=states)
    return q


def documents_to_review(user: Any) -> list[QueueItem]:
    roles = user_roles(user)
    mine = Q(pk__in=[])
    if Role.ACCOUNT_MANAGER in roles:
        mine |= _open_q((*INTAKE_KINDS, DocumentKind.PRODUCTION_VERIFICATION)) & Q(document__case__account_manager=user)
    if Role.TECH_REVIEWER in roles:
        mine |= _open_q((DocumentKind.TEST_REPORT,))
    if Role.COUNTER_CHECKER in roles:
        mine |= _open_q((DocumentKind.EBANKING_REGISTRATION,))
    if not roles & {Role.ACCOUNT_MANAGER, Role.TECH_REVIEWER, Role.COUNTER_CHECKER}:
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
