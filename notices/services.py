"""In-app notices: written in the writer's transaction, read from the bell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.utils import timezone

from .models import Notification
from .outbox import is_suppressed

if TYPE_CHECKING:
    from accounts.models import User


def notices_create(*, recipients: Iterable[User], case_id: int | None, kind: str, text: str) -> int:
    """One in-app notice per recipient (each person once); returns how many were written."""
    if is_suppressed():
        return 0
    now = timezone.now()
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        rows.append(Notification(recipient=user, case_id=case_id, kind=kind, text=text[:300], created_at=now))
    Notification.objects.bulk_create(rows)
    return len(rows)


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark the user's notices read (all of them when `ids` is None); others' notices are untouched."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
