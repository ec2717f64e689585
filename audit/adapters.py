"""django-allauth adapters: closed signup, failed-login limits per account *and* address."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal.httpkit import get_client_ip
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django import forms
from django.http import HttpRequest

from .mfa import mfa_required, security_key_required


class AccountAdapter(DefaultAccountAdapter):
    # A login refused by a failed-login limit reads exactly like a wrong password: someone trying
    # passwords learns neither that a limit was reached nor which one (the refusal is still an
    # audit event, LOGIN_BLOCKED, for whoever helps a colleague who is locked out).
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "too_many_login_attempts": DefaultAccountAdapter.error_messages["username_password_mismatch"],
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # accounts are created by the bank

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """allauth's mail goes through the one outbox like every other notice.

        The body may hold a one-time link (a password reset): it travels as the row's
        `secret`, which is blanked once the mail is sent.
        """
        import uuid

        from allauth.core import context as allauth_context
        from django.contrib.sites.shortcuts import get_current_site

        from notices.outbox import email_queue

        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        message = self.render_mail(template_prefix, email, ctx)
        email_queue(
            kind="rendered",
            key=f"allauth:{template_prefix.rsplit('/', 1)[-1]}:{uuid.uuid4().hex}",
            to=message.to,
            payload={"subject": message.subject, "secret": message.body},
        )

    def send_password_reset_mail(self, user: Any, email: str, context: dict[str, Any]) -> None:
        # Bank staff accounts are reset by an administrator (the page says so); only the
        # customers' own users reset by e-mail.
        if getattr(user, "branch_id", None) is not None or not user.is_active:
            return
        super().send_password_reset_mail(user, email, context)

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys the per-"key" failed-login limit on the login name alone, so anyone could
        # lock any account out from anywhere; with the address in the key, failures count per
        # account and address, and nobody else behind the same NAT address is affected.
        login = str(credentials.get("username", "")).lower()
        return f"{login}@{get_client_ip(request) or '-'}"

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        # A refusal by the directory (disabled there, no role, unknown branch, not reachable)
        # reads as what it is: the person typed their directory password and must know why.
        # It still counts as a failed login (allauth's authentication_failed ran).
        user = super().authenticate(request, **credentials)
        if user is None:
            from .directory import refusal_messages, refusal_of

            reason = refusal_of(request)
            if reason is not None:
                raise forms.ValidationError(refusal_messages()[reason], code=f"directory_{reason}")
        return user

    def pre_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> Any:
        from allauth.mfa.webauthn.internal.flows import did_use_passwordless_login

        if did_use_passwordless_login(request, user):
            from .directory import refusal_at_passkey_login, refusal_messages

            reason = refusal_at_passkey_login(user)
            if reason is not None:
                from allauth.account.internal.stagekit import clear_login
                from django.contrib import messages
                from django.http import HttpResponseRedirect
                from django.urls import reverse

                from .mfa import MFA_SESSION_KEY

                clear_login(request)
                request.session.pop(MFA_SESSION_KEY, None)
                messages.error(request, refusal_messages()[reason])
                return HttpResponseRedirect(reverse("account_login"))
        return super().pre_login(request, user, **kwargs)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError:
            from .models import AccessEvent
            from .services import access_record

            access_record(
                kind=AccessEvent.Kind.LOGIN_BLOCKED, username=str(credentials.get("username", "")), request=request
            )
            raise


class MFAAdapter(DefaultMFAAdapter):
    def get_totp_label(self, user: Any) -> str:
        return user.get_username()

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        # Staff must keep their authenticator app; they may still regenerate recovery codes.
        if authenticator.type == Authenticator.Type.TOTP and mfa_required(authenticator.user):
            return False
        # A role that needs a security key keeps at least one (MFA_REQUIRE_SECURITY_KEY_ROLES).
        if (
            authenticator.type == Authenticator.Type.WEBAUTHN
            and security_key_required(authenticator.user)
            and Authenticator.objects.filter(user_id=authenticator.user_id, type=Authenticator.Type.WEBAUTHN).count()
            <= 1
        ):
            return False
        return super().can_delete_authenticator(authenticator)
