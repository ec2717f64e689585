"""Who is calling: an OAuth2 client-credentials token, mapped to its client's service account."""

from __future__ import annotations

import hashlib
from typing import Any

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_validators import OAuth2Validator
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from branches.roles import user_roles
from config import usercache
from config.frozen import frozen

from .models import ApiClient

# A checksum no token has: the stand-in of the token read compiled once (`_load_access_token`).
_NO_CHECKSUM = "-7654321-no-token-"


class ClientCredentialsAuthentication(OAuth2Authentication):
    """Client-credentials tokens carry no user; the client's service account is the caller."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        _user, token = result
        # Read with the token (`ScopedValidator._load_access_token`); a token read otherwise
        # reads its client here. None where the application has no client (or the token none).
        client = getattr(token.application, "api_client", None)
        if client is None or not client.active or not client.user.is_active:
            return None
        request.api_client = client  # type: ignore[attr-defined]
        user = client.user
        # The service account's roles (every list's scope asks), kept in Redis under the user
        # copy's rules as a signed-in person's are with their copy: a statement a call fewer.
        user._role_cache = usercache.kept(  # type: ignore[union-attr]
            f"roles:{user.pk}", ("accounts_user_groups", "auth_group"), lambda: _roles(user)
        )
        return user, token


def _roles(user: Any) -> frozenset[str]:
    user._role_cache = None
    return user_roles(user)


class HasScope(BasePermission):
    """read for GET/HEAD/OPTIONS, write for everything else."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if token is None or getattr(request, "api_client", None) is None:
            return False
        needed = "read" if request.method in SAFE_METHODS else "write"
        return bool(token.allow_scopes([needed]))


class HasTestGatewayScope(BasePermission):
    """The bank's test gateway: a bank client (never a company's) holding the test_gateway scope."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        client = getattr(request, "api_client", None)
        if token is None or client is None:
            return False
        if request.method != "POST":
            return True  # the route has only POST: anything else is a 405, not a question of scope
        if client.enterprise_id is not None:
            return False
        return bool(token.allow_scopes(["test_gateway"]))


class ClientThrottle(SimpleRateThrottle):
    scope = "api_client"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        client = getattr(request, "api_client", None)
        if client is None:
            return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        return self.cache_format % {"scope": self.scope, "ident": client.pk}


class ScopedValidator(OAuth2Validator):
    """A token gets at most the scopes its client was created with."""

    def _load_access_token(self, token: str) -> Any:
        """The token as django-oauth-toolkit reads it (by its checksum, with its application and
        user), with its application's API client, the client's service account and its branch
        in the same statement, compiled once per process and prepared: three statements a call
        were one (`ClientCredentialsAuthentication` reads the client from it). The token's
        expiry and scopes, and the client's revocation, are checked after it as before."""
        from oauth2_provider.models import get_access_token_model

        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        model = get_access_token_model()
        read = frozen(
            "api_access_token",
            lambda c: model.objects.select_related(
                "application", "user", "application__api_client__user__branch"
            ).filter(token_checksum=c),
            [_NO_CHECKSUM],
            keyed=True,  # one row by its unique checksum: the generic plan is the plan
        )
        found = read.objects(checksum)
        return found[0] if found else None

    def _client_scopes(self, client: Any) -> list[str]:
        api_client = ApiClient.objects.filter(application=client, revoked_at__isnull=True).first()
        return api_client.scope_list if api_client else []

    def validate_scopes(self, client_id: str, scopes: list[str], client: Any, request: Any, *a: Any, **k: Any) -> bool:
        allowed = self._client_scopes(client)
        return bool(allowed) and set(scopes) <= set(allowed)

    def get_default_scopes(self, client_id: str, request: Any, *a: Any, **k: Any) -> list[str]:
        return self._client_scopes(request.client)
