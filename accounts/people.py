"""People, as opposed to service accounts: who may be told, listed on a team, handed a case.

A system's account (an API client acts as a user of its company or branch) is not a person:
it reads no bell and answers no mail. The app that makes such accounts names its relation to
the user from its `AppConfig.ready()` (`api` registers `api_client`), so this app needs no
import of it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import Q

_SERVICE_RELATIONS: list[str] = []


def register_service_relation(name: str) -> None:
    """Users with a row on the reverse relation `name` are service accounts."""
    if name not in _SERVICE_RELATIONS:
        _SERVICE_RELATIONS.append(name)


def people_q(prefix: str = "") -> Q:
    """Users (reached through `prefix`, "" for users themselves) that are people, not service accounts."""
    q = Q()
    for name in _SERVICE_RELATIONS:
        q &= Q(**{f"{prefix}{'__' if prefix else ''}{name}__isnull": True})
    return q


# Who is changing users right now (an administrator in the admin, the directory sync): whoever
# hears a user's save (`people`, releasing a leaver's work) records them as the actor.
_changed_by: contextvars.ContextVar[Any] = contextvars.ContextVar("user_changed_by", default=None)


@contextmanager
def changed_by(user: Any) -> Iterator[None]:
    token = _changed_by.set(user)
    try:
        yield
    finally:
        _changed_by.reset(token)


def current_changer() -> Any:
    """The person changing users now (`changed_by`), None when nobody said."""
    return _changed_by.get()
