"""The substitute's part of "轮到我办理": work that arrived for an absent colleague since their
absence began, marked "代 X 办理" (a source of `onboarding.queue`, added in `ready()`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import user_roles
from onboarding.queue import QueueItem, held_items

from .selectors import CASE_ROLE, absences_covered_by


def delegated_items(user: Any) -> list[QueueItem]:
    """The cases an absent account manager holds whose current stage began during the absence."""
    if CASE_ROLE not in user_roles(user):
        return []  # only account managers' work is a person's own to cover
    items: list[QueueItem] = []
    for absence in absences_covered_by(user):
        if absence.role != CASE_ROLE:
            continue  # other roles' work is held by the role at the branch: nothing personal to cover
        since = timezone.make_aware(dt.datetime.combine(absence.starts_on, dt.time.min))
        for item in held_items(absence.person):
            if item.since is None or item.since < since:
                continue
            action = _("代 %(name)s 办理:%(action)s") % {"name": absence.person, "action": item.action}
            items.append(dataclasses.replace(item, action=action, kind="delegated"))
    return items
