"""In-app notices: written in the writer's transaction, read from the bell, cleared when their work moves on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from .kinds import render_in
from .models import Notification
from .outbox import is_suppressed

if TYPE_CHECKING:
    from accounts.models import User


def notices_create(
    *,
    recipients: Iterable[User],
    case_id: int | None,
    kind: str,
    text: str = "",
    params: dict[str, Any] | None = None,
) -> int:
    """One in-app notice per recipient (each person once); returns how many were written.

    `params` are what the kind's renderer needs (`notices.kinds`): the notice is shown in each
    reader's language. `text` is the notice in Chinese, rendered from them when not given.
    """
    if is_suppressed():
        return 0
    params = params or {}
    if not text:
        text = render_in(settings.LANGUAGE_CODE, kind, params)
    now = timezone.now()
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        rows.append(
            Notification(recipient=user, case_id=case_id, kind=kind, text=text[:300], params=params, created_at=now)
        )
    Notification.objects.bulk_create(rows)
    return len(rows)


def notices_clear(
    *,
    case_id: int,
    kinds: Iterable[str] | None = None,
    about: dict[str, Any] | None = None,
    unless: dict[str, Any] | None = None,
) -> int:
    """Clear the case's open notices whose work is done or has moved on: marked read and cleared, never deleted.

    `kinds` limits it to those kinds; `about` to notices whose parameters hold these values
    (the change request, the counter entry); `unless` keeps those whose parameters hold all of
    these values (the stage visit and holder the case is still in). Returns how many.
    """
    qs = Notification.objects.filter(case_id=case_id, read_at__isnull=True)
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    if about:
        qs = qs.filter(**{f"params__{k}": v for k, v in about.items()})
    if unless:
        qs = qs.exclude(**{f"params__{k}": v for k, v in unless.items()})
    now = timezone.now()
    return qs.update(read_at=now, cleared_at=now)


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark the user's notices read (all of them when `ids` is None); others' notices are untouched."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
