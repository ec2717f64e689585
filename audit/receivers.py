"""Hooks into django.contrib.auth and allauth: the audit rows of logins, the MFA session mark.

Signals are the only hook these libraries give; each receiver just calls a service.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from allauth.account.signals import authentication_step_completed
from allauth.account.signals import user_logged_in as allauth_user_logged_in
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from .mfa import has_security_key, has_totp, mfa_mark, mfa_required, security_key_required
from .models import AccessEvent
from .services import access_record

LOGIN_AT_SESSION_KEY = "audit.login_at"


@receiver(user_logged_in, dispatch_uid="audit_login")
def on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[LOGIN_AT_SESSION_KEY] = time.time()
        must_enrol = not has_totp(user) or (security_key_required(user) and not has_security_key(user))
        if mfa_required(user) and must_enrol and _password_just_given(request, user):
            # allauth asks for the password again before an authenticator is added unless it
            # was "re-entered" in the last minutes; at the login that leads to a forced
            # enrolment (TOTP, or the security key of MFA_REQUIRE_SECURITY_KEY_ROLES) it was just typed.
            record_authentication(request, user, method="password", reauthenticated=True)
    access_record(kind=AccessEvent.Kind.LOGIN, actor=user, request=request)


def _password_just_given(request: HttpRequest, user: Any) -> bool:
    records = get_authentication_records(request, user)
    return any(r.get("method") == "password" and time.time() - r.get("at", 0) < 60 for r in records)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    access_record(kind=AccessEvent.Kind.LOGIN_FAILED, username=str(credentials.get("username", "")), request=request)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        access_record(kind=AccessEvent.Kind.LOGOUT, actor=user, request=request)


@receiver(authentication_step_completed, dispatch_uid="audit_mfa_step")
def on_authentication_step(sender: Any, request: HttpRequest, user: Any, method: str, **kwargs: Any) -> None:
    # allauth records "mfa" when a TOTP or recovery code was accepted at login or reauthentication.
    if method == "mfa":
        mfa_mark(request.session, user)


@receiver(allauth_user_logged_in, dispatch_uid="audit_oidc_second_factor")
def on_allauth_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    from .oidc import on_social_login

    on_social_login(request, user, kwargs.get("sociallogin"))
