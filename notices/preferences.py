"""Who wants which notices by e-mail: in-app notices always go out, mail only to those who want it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .models import EmailPreference, MailKind

if TYPE_CHECKING:
    from accounts.models import User


def mail_addresses(users: Iterable[User], kind: str) -> list[str]:
    """The e-mail addresses of `users` who have not turned mail off for `kind` (one query)."""
    people = [u for u in users if u.email]
    if not people:
        return []
    off = set(
        EmailPreference.objects.filter(user_id__in=[u.pk for u in people], kind=kind, email=False).values_list(
            "user_id", flat=True
        )
    )
    return [u.email for u in people if u.pk not in off]


def preferences_of(user: User) -> dict[str, bool]:
    """Every kind, mapped to whether `user` gets it by e-mail."""
    chosen = dict(EmailPreference.objects.filter(user=user).values_list("kind", "email"))
    return {kind: chosen.get(kind, True) for kind in MailKind.values}


def preferences_set(*, user: User, email_on: Iterable[str]) -> None:
    """Mail for the kinds in `email_on`, none for the others."""
    wanted = set(email_on)
    for kind in MailKind.values:
        EmailPreference.objects.update_or_create(user=user, kind=kind, defaults={"email": kind in wanted})
