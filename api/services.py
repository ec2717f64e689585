"""Writes for API clients: create, rotate the secret, revoke. The secret is returned once and stored hashed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application

from branches.models import Branch
from branches.roles import STAFF_ROLES, Role, ensure_role_groups
from companies.models import Enterprise
from onboarding.services import CaseError
from webhooks.services import integration_change_record

from .models import COMPANY_SCOPES, ApiClient, Scope


@dataclass(frozen=True)
class Credentials:
    client: ApiClient
    client_id: str
    client_secret: str


def _scopes(scopes: list[str], *, company: bool) -> str:
    cleaned = sorted({s.strip() for s in scopes if s.strip()})
    if not cleaned or any(s not in Scope.values for s in cleaned):
        raise CaseError(_("权限范围只能是 read、write、test_gateway。"))
    if company and any(s not in COMPANY_SCOPES for s in cleaned):
        # The test gateway reports what the bank saw; a company's client may not report it.
        raise CaseError(_("企业的 API 客户端只能有 read、write 权限范围。"))
    return " ".join(cleaned)


def api_client_create(
    *,
    name: str,
    scopes: list[str],
    created_by: Any = None,
    enterprise: Enterprise | None = None,
    branch: Branch | None = None,
    roles: list[str] | None = None,
    request: HttpRequest | None = None,
) -> Credentials:
    """A client for one company (acting as one of its enterprise users) or one branch subtree (with staff roles)."""
    if (enterprise is None) == (branch is None):
        raise CaseError(_("API 客户端须属于一个企业或一个机构。"))
    roles = list(roles or [])
    if enterprise is not None:
        roles = [Role.ENTERPRISE_USER]
    elif not roles or any(r not in STAFF_ROLES for r in roles):
        raise CaseError(_("银行系统客户端须指定员工角色。"))
    scope_text = _scopes(scopes, company=enterprise is not None)
    secret = generate_client_secret()
    ensure_role_groups()
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=f"api-{secrets.token_hex(6)}",
            password=None,
            enterprise=enterprise,
            branch=branch,
            first_name=name[:150],
        )
        user.groups.set(Group.objects.filter(name__in=roles))
        app = Application.objects.create(
            name=name[:255],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
            user=user,
        )
        client = ApiClient.objects.create(
            name=name,
            application=app,
            user=user,
            enterprise=enterprise,
            branch=branch,
            scopes=scope_text,
            created_by=created_by,
        )
        integration_change_record(
            action="api_client_create",
            obj=client,
            actor=created_by,
            request=request,
            data={"client_id": app.client_id, "scopes": scope_text, "roles": sorted(roles)},
        )
    return Credentials(client=client, client_id=app.client_id, client_secret=secret)


def api_client_rotate(*, client: ApiClient, actor: Any = None, request: HttpRequest | None = None) -> Credentials:
    """A new secret; tokens issued with the old one are revoked at once."""
    if not client.active:
        raise CaseError(_("该客户端已停用。"))
    secret = generate_client_secret()
    with transaction.atomic():
        app = client.application
        app.client_secret = secret
        app.save(update_fields=["client_secret"])
        AccessToken.objects.filter(application=app).delete()
        client.rotated_at = timezone.now()
        client.save(update_fields=["rotated_at"])
        integration_change_record(
            action="api_client_rotate", obj=client, actor=actor, request=request, data={"client_id": app.client_id}
        )
    return Credentials(client=client, client_id=client.application.client_id, client_secret=secret)


def api_client_revoke(*, client: ApiClient, actor: Any = None, request: HttpRequest | None = None) -> None:
    if not client.active:
        raise CaseError(_("该客户端已停用。"))
    with transaction.atomic():
        AccessToken.objects.filter(application=client.application).delete()
        user = client.user
        user.is_active = False
        user.save(update_fields=["is_active"])
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        integration_change_record(
            action="api_client_revoke",
            obj=client,
            actor=actor,
            request=request,
            data={"client_id": client.application.client_id},
        )
