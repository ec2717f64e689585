"""The counter's part of "轮到我办理": the maker's entries to make, the checker's to confirm, and
the checker's last step (UKey issuance complete) once the counter work and the production
configuration are done. Work passes between maker and checker: while an entry is pending it
is the checker's, once confirmed the maker's again until every operator's key is activated."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from branches.roles import Role, user_roles
from casetypes import declaration
from casetypes.declaration import Feature
from onboarding.queue import QueueItem, case_url, company_name
from onboarding.selectors import case_list, case_visible_q

from .models import CounterEntry, Operator, UKey
from .rules import answered_for_q


def counter_done_q() -> Q:
    """Cases whose counter work is done: identity confirmed, operators named, each with an activated key."""
    identity = CounterEntry.objects.filter(
        case=OuterRef("pk"), kind=CounterEntry.Kind.IDENTITY_CHECK, status=CounterEntry.Status.CONFIRMED
    )
    operators = Operator.objects.filter(case=OuterRef("pk"), removed_at__isnull=True)
    activated = UKey.objects.filter(operator=OuterRef("pk"), status=UKey.Status.ACTIVATED)
    return Q(Exists(identity)) & Q(Exists(operators)) & ~Q(Exists(operators.exclude(Exists(activated))))


def pending_q() -> Q:
    return Q(Exists(CounterEntry.objects.filter(case=OuterRef("pk"), status=CounterEntry.Status.PENDING)))


def entries_to_make(user: Any) -> list[QueueItem]:
    """Counter makers: cases at UKey issuance of their outlet with counter work left and nothing pending."""
    if Role.COUNTER_MAKER not in user_roles(user):
        return []
    identity = CounterEntry.objects.filter(
        case=OuterRef("pk"), kind=CounterEntry.Kind.IDENTITY_CHECK, status=CounterEntry.Status.CONFIRMED
    )
    cases = (
        case_list(user=user)
        .filter(state__in=declaration.states_with(Feature.COUNTER_HOLDS))
        .exclude(pending_q())
        .exclude(counter_done_q())
        .annotate(identity_done=Exists(identity))
        .order_by("current_visit__due_at", "pk")[:50]
    )
    return [
        QueueItem(
            case=c,
            action=_("柜面录入:操作员、UKey发放与证书激活") if c.identity_done else _("柜面录入:临柜身份核验"),
            url=case_url(c, "counter"),
            due_at=c.current_visit.due_at if c.current_visit else None,
            company=company_name(c),
            kind="counter_make",
        )
        for c in cases
    ]


def entries_to_check(user: Any) -> list[QueueItem]:
    """Counter checkers: entries others made that wait for a check; then the completion of UKey issuance."""
    if Role.COUNTER_CHECKER not in user_roles(user):
        return []
    entries = (
        CounterEntry.objects.filter(status=CounterEntry.Status.PENDING)
        .exclude(answered_for_q(user))  # their own, and those they stand in for
        .filter(case__in=case_visible_q_cases(user))
        .select_related("case__enterprise", "case__company_version", "case__branch", "case__current_visit", "maker")
        .order_by("made_at", "pk")[:50]
    )
    items = [
        QueueItem(
            case=e.case,
            action=_("复核:%(kind)s(%(maker)s录入)") % {"kind": e.get_kind_display(), "maker": e.maker},
            url=case_url(e.case, "counter"),
            due_at=e.case.current_visit.due_at if e.case.current_visit else None,
            company=company_name(e.case),
            kind="counter_check",
        )
        for e in entries
    ]
    ready = (
        case_list(user=user)
        .filter(state__in=declaration.states_with(Feature.COUNTER_HOLDS), production_config__isnull=False)
        .exclude(pending_q())
        .filter(counter_done_q())
        .order_by("current_visit__due_at", "pk")[:50]
    )
    items += [
        QueueItem(
            case=c,
            action=_("UKey发放完成,转客户生产验证"),
            url=case_url(c, "actions"),
            due_at=c.current_visit.due_at if c.current_visit else None,
            company=company_name(c),
            kind="counter_complete",
        )
        for c in ready
    ]
    return items


def case_visible_q_cases(user: Any) -> Any:
    from onboarding.models import OnboardingCase

    return OnboardingCase.objects.filter(case_visible_q(user)).values("pk")
