"""The company administrator's page for API clients and webhook endpoints."""

from __future__ import annotations

import re
import socket

from api.models import ApiClient
from audit.models import AccessEvent
from tests.api_helpers import Api, api_token
from tests.portal_helpers import member
from webhooks.models import WebhookEndpoint


def test_an_admin_creates_rotates_and_revokes_a_client(world, client):
    member(world.customer_x, admin=True)
    client.force_login(world.customer_x)
    response = client.post("/portal/integrations/clients/new/", {"name": "SAP", "scopes": ["read", "write"]})
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    api_client = ApiClient.objects.get(enterprise=world.company_x)
    secret = re.search(r"<code>([A-Za-z0-9]{40,})</code>", response.content.decode()).group(1)
    assert api_token(api_client.application.client_id, secret)
    assert secret not in client.get("/portal/integrations/").content.decode()  # shown once

    rotated = client.post("/portal/integrations/clients/action/", {"client": api_client.public_id, "action": "rotate"})
    new_secret = re.search(r"<code>([A-Za-z0-9]{40,})</code>", rotated.content.decode()).group(1)
    assert new_secret != secret
    client.post("/portal/integrations/clients/action/", {"client": api_client.public_id, "action": "revoke"})
    api_client.refresh_from_db()
    assert not api_client.active
    audited = AccessEvent.objects.filter(kind=AccessEvent.Kind.ADMIN_CHANGE, actor=world.customer_x).order_by("pk")
    assert [e.data["action"] for e in audited] == ["api_client_create", "api_client_rotate", "api_client_revoke"]
    assert not any(secret in str(e.data) or new_secret in str(e.data) for e in audited)


def test_another_companys_client_is_not_found(world, client):
    member(world.customer_y, admin=True)
    from api.services import api_client_create

    creds = api_client_create(name="x", scopes=["read"], enterprise=world.company_x)
    client.force_login(world.customer_y)
    response = client.post(
        "/portal/integrations/clients/action/", {"client": creds.client.public_id, "action": "revoke"}
    )
    assert response.status_code == 302
    creds.client.refresh_from_db()
    assert creds.client.active
    assert Api(api_token(creds.client_id, creds.client_secret)).get("/api/v1/cases/").status_code == 200


def test_members_who_are_not_admins_and_staff_are_refused(world, client):
    member(world.customer_x, admin=False)
    for user in (world.customer_x, world.am_a):
        client.force_login(user)
        assert client.get("/portal/integrations/").status_code == 403


def test_an_admin_adds_an_endpoint_and_private_addresses_are_refused(world, client, monkeypatch):
    member(world.customer_x, admin=True)
    client.force_login(world.customer_x)
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
    )
    refused = client.post(
        "/portal/integrations/endpoints/new/", {"url": "https://erp.internal/hook", "events": ["case.live"]}
    )
    assert refused.status_code == 200 and not WebhookEndpoint.objects.exists()
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
    )
    added = client.post(
        "/portal/integrations/endpoints/new/", {"url": "https://erp.example.com/hook", "events": ["case.live"]}
    )
    endpoint = WebhookEndpoint.objects.get(enterprise=world.company_x)
    assert endpoint.secret in added.content.decode()
