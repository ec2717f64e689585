"""django-allauth adapters: closed signup, failed-login limits per account *and* address."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal.httpkit import get_client_ip
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django import forms
from django.http import HttpRequest

from .mfa import mfa_required


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # accounts are created by the bank

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys the per-"key" failed-login limit on the login name alone, so anyone could
        # lock any account out from anywhere; with the address in the key, failures count per
        # account and address, and nobody else behind the same NAT address is affected.
        login = str(credentials.get("username", "")).lower()
        return f"{login}@{get_client_ip(request) or '-'}"

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
        return super().can_delete_authenticator(authenticator)
