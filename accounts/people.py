"""People, as opposed to service accounts: who may be told, listed on a team, handed a case.

A system's account (an API client acts as a user of its company or branch) is not a person:
it reads no bell and answers no mail. The app that makes such accounts names its relation to
the user from its `AppConfig.ready()` (`api` registers `api_client`), so this app needs no
import of it.
"""

from __future__ import annotations

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
