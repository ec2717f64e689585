"""Second factor for bank staff: who needs it, how a session shows it was given, demo secrets.

A session is "MFA-complete" when it carries MFA_SESSION_KEY equal to the logged-in user's
pk. allauth's login flow sets it when a TOTP/recovery code is accepted, and the enrolment
sets it when the first code is confirmed (see receivers.py). Tests may set it directly
after `client.force_login` for a user who has a TOTP authenticator (tests/conftest.py).
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.contrib.sessions.backends.base import SessionBase

MFA_SESSION_KEY = "audit.mfa_user"


def mfa_required(user: Any) -> bool:
    """Bank staff and anyone who can reach the Django admin must use a second factor."""
    return bool(
        getattr(user, "is_authenticated", False) and (user.branch_id is not None or user.is_staff or user.is_superuser)
    )


def mfa_mark(session: SessionBase, user: Any) -> None:
    session[MFA_SESSION_KEY] = str(user.pk)


def mfa_marked(session: SessionBase, user: Any) -> bool:
    return session.get(MFA_SESSION_KEY) == str(user.pk)


def security_key_required(user: Any) -> bool:
    """Does one of the user's roles need a security key (MFA_REQUIRE_SECURITY_KEY_ROLES)?"""
    from django.conf import settings

    from branches.roles import has_role

    required = settings.MFA_REQUIRE_SECURITY_KEY_ROLES
    return bool(required) and mfa_required(user) and has_role(user, *required)


def has_security_key(user: Any) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.WEBAUTHN).exists()


def has_totp(user: Any) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def demo_totp_secret(username: str) -> str:
    """The fixed secret of a demo account: anyone with the source can compute its codes."""
    digest = hashlib.sha256(f"direct-link demo TOTP:{username}".encode()).digest()[:20]
    return base64.b32encode(digest).decode("ascii")


def totp_enrol(user: Any, secret: str) -> Authenticator:
    """Give `user` a TOTP authenticator with `secret` (stored the way allauth stores it) and
    recovery codes; an existing TOTP authenticator is kept as it is."""
    existing = Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).first()
    if existing is None:
        existing = TOTP.activate(user, secret).instance
    RecoveryCodes.activate(user)
    return existing


def totp_secret(user: Any) -> str | None:
    auth = Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).first()
    return decrypt(auth.data["secret"]) if auth else None


def totp_code(secret: str, at: float | None = None) -> str:
    """The code an authenticator app shows for `secret` at time `at` (now by default)."""
    counter = int(time.time() if at is None else at) // mfa_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))
