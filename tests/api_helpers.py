"""API clients for tests: created with the real service, tokens fetched from the real token endpoint."""

from __future__ import annotations

from typing import Any

from django.test import Client

from api.services import api_client_create


def api_token(client_id: str, secret: str, scope: str = "") -> str:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope:
        data["scope"] = scope
    response = Client().post("/api/v1/oauth/token/", data)
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


class Api:
    """A Django test client that sends one client's bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url: str, **headers: str) -> Any:
        return self.client.get(url, headers={**self.headers, **headers})

    def post(self, url: str, data: Any = None, *, multipart: bool = False, **headers: str) -> Any:
        if multipart:
            return self.client.post(url, data or {}, headers={**self.headers, **headers})
        return self.client.post(url, data or {}, content_type="application/json", headers={**self.headers, **headers})


def enterprise_api(enterprise: Any, scopes: str = "read write") -> Api:
    creds = api_client_create(name="ERP", scopes=scopes.split(), enterprise=enterprise)
    return Api(api_token(creds.client_id, creds.client_secret))


def bank_api(branch: Any, *roles: str, scopes: str = "read write") -> Api:
    creds = api_client_create(name="bank", scopes=scopes.split(), branch=branch, roles=list(roles))
    return Api(api_token(creds.client_id, creds.client_secret))


def gateway_api(branch: Any) -> Api:
    """The bank's test gateway: a bank client with the test_gateway scope only."""
    creds = api_client_create(name="测试网关", scopes=["test_gateway"], branch=branch, roles=["tech_reviewer"])
    return Api(api_token(creds.client_id, creds.client_secret))
