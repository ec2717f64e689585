"""More items for "轮到我办理" than the cases whose stage a person holds.

Apps above onboarding register a source in their `AppConfig.ready()` (`queue.register(fn)`);
a source takes the user and returns `QueueItem`s with one query whatever their number, so the
dashboard's query count does not grow with the queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from branches.roles import Role, user_roles

from .models import OnboardingCase
from .selectors import case_list
from .states import State


@dataclass(frozen=True)
class QueueItem:
    case: OnboardingCase
    action: str  # what the person has to do, in their words
    url: str  # where it is done (the case page, at the form's anchor)
    due_at: dt.datetime | None


Source = Callable[[Any], list[QueueItem]]
_SOURCES: list[Source] = []


def register(source: Source) -> Source:
    if source not in _SOURCES:
        _SOURCES.append(source)
    return source


def case_url(case: OnboardingCase, anchor: str = "") -> str:
    url = reverse("case_detail", args=[case.public_id])
    return f"{url}#{anchor}" if anchor else url


def extra_items(user: Any) -> list[QueueItem]:
    """Everything the registered sources hold for `user`, earliest due first (no due time last)."""
    if getattr(user, "enterprise_id", None) is not None:
        return []
    items = [item for source in _SOURCES for item in source(user)]
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(items, key=lambda i: (i.due_at or far, i.case.pk))


@register
def production_configs_to_issue(user: Any) -> list[QueueItem]:
    """Head-office tech: cases at UKey issuance still without their production configuration."""
    if Role.TECH_REVIEWER not in user_roles(user):
        return []
    cases = (
        case_list(user=user)
        .filter(state=State.UKEY_ISSUANCE, production_config__isnull=True)
        .order_by("current_visit__due_at", "pk")[:50]
    )
    return [
        QueueItem(case=c, action=_("登记生产配置"), url=case_url(c, "production"), due_at=c.current_visit.due_at)
        for c in cases
        if c.current_visit is not None
    ]
