"""The substitute's part of "轮到我办理": work that arrived for an absent colleague since their
absence began, marked "代 X 办理" (a source of `onboarding.queue`, added in `ready()`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import user_roles
from config.statements import read_cursor
from onboarding.queue import QueueItem, held_items

from .selectors import CASE_ROLE, absences_covered_by, today

# Whether anyone's absence today is covered by the reader, as `absences_covered_by` and the
# role test below select them, written out: every dashboard of an account manager asks, and
# almost always nobody is away; Django spent about 2 ms of CPU building the question.
_COVERS_ANY = """SELECT 1 FROM people_absence a JOIN accounts_user p ON p.id = a.person_id
WHERE a.cancelled_at IS NULL AND a.starts_on <= %s AND a.ends_on >= %s AND a.role = %s
  AND a.person_id <> %s AND (a.substitute_id = %s OR (a.substitute_id IS NULL AND p.branch_id = %s))
LIMIT 1"""


def _covers_any(user: Any) -> bool:
    day = connection.ops.adapt_datefield_value(today())
    # Prepared on its connection (`read_cursor`): its values are ids, a day and a role, and
    # PostgreSQL planned it on every dashboard (0.13 ms, ten times its running).
    with read_cursor() as cursor:
        cursor.execute(_COVERS_ANY, [day, day, CASE_ROLE, user.pk, user.pk, user.branch_id])
        return cursor.fetchone() is not None


def delegated_items(user: Any) -> list[QueueItem]:
    """The cases an absent account manager holds whose current stage began during the absence."""
    if CASE_ROLE not in user_roles(user) or getattr(user, "branch_id", None) is None:
        return []  # only account managers' work is a person's own to cover
    if not _covers_any(user):
        return []
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
