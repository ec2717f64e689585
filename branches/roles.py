"""Roles are Django groups whose names are the codes below.

A role answers "what may this person do"; the home branch answers "on which cases".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from accounts.models import User


class Role(models.TextChoices):
    ACCOUNT_MANAGER = "account_manager", _("客户经理")
    BRANCH_SUPERVISOR = "branch_supervisor", _("分行审核")
    HEAD_OFFICE_APPROVER = "head_office_approver", _("总行公金部审批")
    TECH_REVIEWER = "tech_reviewer", _("总行科技部")
    COUNTER_MAKER = "counter_maker", _("柜面经办")
    COUNTER_CHECKER = "counter_checker", _("柜面复核")
    AUDITOR = "auditor", _("审计")
    ENTERPRISE_USER = "enterprise_user", _("企业用户")


STAFF_ROLES = frozenset(Role) - {Role.ENTERPRISE_USER}


def user_roles(user: User | Any) -> frozenset[str]:
    """The role codes of a user, read once per request and cached on the user object."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_role_cache", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        user._role_cache = cached  # type: ignore[union-attr]
    return cached


def user_prepare(user: User | Any) -> None:
    """What every page reads of its user, loaded onto the object before config/usercache.py
    keeps a copy of it: the roles, the home branch (the scope of everything they see), a
    customer's company (the portal's top bar names it) and the permissions (every dashboard
    asks whether its reader may enter the holidays: 2 queries)."""
    user_roles(user)
    if getattr(user, "branch_id", None) is not None:
        user.branch  # noqa: B018 - the related object is cached on the instance
    if getattr(user, "enterprise_id", None) is not None:
        user.enterprise  # noqa: B018
    if getattr(user, "is_active", False):
        user.get_all_permissions()  # ModelBackend keeps them on the instance (`_perm_cache`)


def has_role(user: User | Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def ensure_role_groups(**kwargs: Any) -> None:
    from django.contrib.auth.models import Group

    for role in Role:
        Group.objects.get_or_create(name=role.value)
