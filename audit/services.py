"""Writes of the audit app: access events and break-glass grants (append-only rows)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from allauth.core.internal.httpkit import get_client_ip
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import STAFF_ROLES, user_roles
from onboarding.models import OnboardingCase
from onboarding.selectors import case_visible_q
from onboarding.services import CaseError

from .models import AccessEvent, BreakGlassGrant

MIN_REASON_LENGTH = 10


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    try:
        return get_client_ip(request) or ""
    except (ImproperlyConfigured, ValueError):  # a malformed proxy header must not lose the row
        return ""


def access_event(
    *,
    kind: str,
    actor: Any = None,
    username: str = "",
    case: OnboardingCase | None = None,
    reason: str = "",
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
) -> AccessEvent:
    """An access event, not yet saved (`access_record` saves one, `access_events_save` several)."""
    if actor is not None and not username:
        username = actor.get_username()
    return AccessEvent(
        kind=kind,
        actor=actor,
        username=username[:150],
        case=case,
        reason=reason,
        ip=client_ip(request),
        path=request.get_full_path()[:300] if request is not None else "",
        data=data or {},
    )


def access_record(
    *,
    kind: str,
    actor: Any = None,
    username: str = "",
    case: OnboardingCase | None = None,
    reason: str = "",
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
) -> AccessEvent:
    event = access_event(
        kind=kind, actor=actor, username=username, case=case, reason=reason, request=request, data=data
    )
    event.save()
    return event


def access_events_save(events: list[AccessEvent]) -> list[AccessEvent]:
    """Several access events of one request (a list read: one per case shown) in one INSERT."""
    return AccessEvent.objects.bulk_create(events)


def may_break_glass(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.branch_id is not None
        and user_roles(user) & STAFF_ROLES
    )


def break_glass_open(
    *, user: Any, case: OnboardingCase, ground: str, reason: str, request: HttpRequest | None = None
) -> BreakGlassGrant:
    """Open `case` read-only to `user` for BREAK_GLASS_MINUTES, with the reason on record.

    Only for cases outside the user's ordinary scope: inside it there is nothing to break.
    """
    if not may_break_glass(user):
        raise CaseError(_("只有银行员工可以申请越权查阅。"))
    if OnboardingCase.objects.filter(case_visible_q(user), pk=case.pk).exists():
        raise CaseError(_("该案件在您的管辖范围内,无需越权查阅。"))
    reason = reason.strip()
    problems = []
    if ground not in BreakGlassGrant.Ground.values:
        problems.append(_("请选择查阅依据。"))
    if len(reason) < MIN_REASON_LENGTH:
        problems.append(_("请说明查阅事由(至少 %(n)d 个字)。") % {"n": MIN_REASON_LENGTH})
    if problems:
        raise CaseError(_("不能越权查阅。"), problems)
    now = timezone.now()
    grant = BreakGlassGrant.objects.create(
        user=user,
        case=case,
        ground=ground,
        reason=reason,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=settings.BREAK_GLASS_MINUTES),
    )
    access_record(
        kind=AccessEvent.Kind.BREAK_GLASS,
        actor=user,
        case=case,
        reason=reason,
        request=request,
        data={"ground": ground, "grant": grant.pk, "expires_at": grant.expires_at.isoformat()},
    )
    return grant
