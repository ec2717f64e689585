"""Builders shared by the portal tests."""

from __future__ import annotations

from typing import Any

from portal.models import EnterpriseMember
from portal.services import invitation_create


def member(user: Any, *, admin: bool = False) -> EnterpriseMember:
    m, _created = EnterpriseMember.objects.get_or_create(user=user)
    if m.is_admin != admin:
        EnterpriseMember.objects.filter(pk=m.pk).update(is_admin=admin)
        m.refresh_from_db()
    return m


def invite(world: Any, email: str = "new.user@company-x.example", **kwargs: Any) -> tuple[Any, str]:
    return invitation_create(by=world.am_a, enterprise=world.company_x, email=email, **kwargs)
