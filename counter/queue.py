"""The counter checker's part of "轮到我办理": entries others made that wait for a check."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from branches.roles import Role, user_roles
from onboarding.queue import QueueItem, case_url
from onboarding.selectors import case_visible_q

from .models import CounterEntry


def entries_to_check(user: Any) -> list[QueueItem]:
    if Role.COUNTER_CHECKER not in user_roles(user):
        return []
    entries = (
        CounterEntry.objects.filter(status=CounterEntry.Status.PENDING)
        .exclude(maker=user)
        .filter(case__in=case_visible_q_cases(user))
        .select_related("case__enterprise", "case__company_version", "case__branch", "case__current_visit", "maker")
        .order_by("made_at", "pk")[:50]
    )
    return [
        QueueItem(
            case=e.case,
            action=_("复核:%(kind)s(%(maker)s录入)") % {"kind": e.get_kind_display(), "maker": e.maker},
            url=case_url(e.case, "counter"),
            due_at=e.case.current_visit.due_at if e.case.current_visit else None,
        )
        for e in entries
    ]


def case_visible_q_cases(user: Any) -> Any:
    from onboarding.models import OnboardingCase

    return OnboardingCase.objects.filter(case_visible_q(user)).values("pk")
