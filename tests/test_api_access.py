"""A generated matrix: every /api/v1/ URL × {client of X, client of Y, bank client of A and of B, read-only, no token}.

The URL list is walked from the resolver (as tests/test_portal_access.py does for the pages),
so an endpoint added later is checked without anyone remembering to add it here.
"""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AccessEvent
from branches.roles import Role
from onboarding.states import State
from tests.api_helpers import Api, bank_api, enterprise_api, gateway_api
from tests.test_portal_access import PARAM, _live_link, fill

API_PREFIX = "api/v1/"
# Not resources: the token endpoint (takes client credentials) and the schema and its reference page.
OPEN_ROUTES = {"api/v1/oauth/token/", "api/v1/schema/", "api/v1/docs/"}
# The bank's test gateway's own route (scope test_gateway; tests/test_joint_test_gateway.py):
# every other client is refused there (403), whoever it belongs to.
GATEWAY_ONLY = {"api/v1/test-gateway/observations/"}


def api_routes() -> list[str]:
    from django.urls import get_resolver

    from tests.test_portal_access import _walk

    return sorted(r for r in _walk(get_resolver().url_patterns) if r.startswith(API_PREFIX) and r not in OPEN_ROUTES)


def _calls(api: Api, url: str, body: dict | None = None, **headers: str) -> list[tuple[str, Any]]:
    """(method, response) for each method the endpoint has: GET and POST (an empty body unless given)."""
    found = []
    for method in ("GET", "POST"):
        response = api.get(url, **headers) if method == "GET" else api.post(url, body or {}, **headers)
        if response.status_code != 405:
            found.append((method, response))
    assert found, url
    return found


def post_routes() -> list[str]:
    from django.urls import resolve

    from tests.test_portal_access import fill

    zero = "00000000-0000-0000-0000-000000000000"
    values = {"case_id": zero, "version_id": zero, "link_id": zero}
    return [r for r in api_routes() if hasattr(resolve(fill(r, values)).func.view_class, "post")]


@pytest.fixture
def setup(world):
    case = world.case(State.JOINT_TESTING)
    document = case.documents.filter(versions__isnull=False).first()
    assert document is not None
    values = {
        "case_id": str(case.public_id),
        "version_id": str(document.versions.latest("pk").public_id),
        "link_id": str(_live_link(case).public_id),
    }
    return world, case, values


def test_the_matrix_sees_every_api_endpoint():
    routes = api_routes()
    assert "api/v1/cases/" in routes and "api/v1/cases/<uuid:case_id>/submit/" in routes
    assert len(routes) >= 11


@pytest.mark.parametrize("who", ["client_x", "bank_a"])
def test_own_company_and_branch_reach_every_endpoint(setup, who):
    world, _case, values = setup
    api = enterprise_api(world.company_x) if who == "client_x" else bank_api(world.tier1, Role.ACCOUNT_MANAGER)
    failures = []
    for route in api_routes():
        for method, response in _calls(api, fill(route, values)):
            # 400: the empty body was refused by the rule or the serializer, after the case was found;
            # 403: a bank system opens no drafts (a company's client does).
            allowed = (200, 201, 400, 403) if who == "bank_a" else (200, 201, 400)
            if route in GATEWAY_ONLY:
                allowed = (403,)
            if response.status_code not in allowed:
                failures.append((route, method, response.status_code))
    assert failures == []


@pytest.mark.parametrize("who", ["client_y", "bank_b"])
def test_other_company_and_branch_get_404_everywhere(setup, who):
    world, case, values = setup
    api = enterprise_api(world.company_y) if who == "client_y" else bank_api(world.tier1_other, Role.ACCOUNT_MANAGER)
    failures = []
    for route in api_routes():
        for method, response in _calls(api, fill(route, values)):
            if PARAM.search(route):
                ok = response.status_code == 404
            else:
                ok = response.status_code in (200, 201, 400, 403) and case.reference.encode() not in response.content
            if not ok:
                failures.append((route, method, response.status_code))
    assert failures == []


def test_without_a_token_every_endpoint_is_401(setup):
    _world, _case, values = setup
    for route in api_routes():
        for method, response in _calls(Api(None), fill(route, values)):
            assert response.status_code == 401, (route, method)


def test_read_only_client_cannot_post(setup):
    world, _case, values = setup
    api = enterprise_api(world.company_x, scopes="read")
    for route in api_routes():
        for method, response in _calls(api, fill(route, values)):
            assert response.status_code == (200 if method == "GET" else 403), (route, method)


def test_every_call_is_an_access_event(setup):
    world, case, _values = setup
    api = enterprise_api(world.company_x)
    before = AccessEvent.objects.filter(kind=AccessEvent.Kind.API_CALL).count()
    api.get(f"/api/v1/cases/{case.public_id}/")
    api.get("/api/v1/cases/")
    events = AccessEvent.objects.filter(kind=AccessEvent.Kind.API_CALL).order_by("pk")
    assert events.count() == before + 2
    assert events.filter(case=case).exists()
    assert events.last().data["status"] == 200


def test_the_post_list_holds_every_write():
    posts = post_routes()
    assert "api/v1/cases/" in posts and "api/v1/cases/<uuid:case_id>/messages/" in posts
    assert "api/v1/cases/<uuid:case_id>/visits/" not in posts


def test_every_call_of_every_endpoint_is_an_access_event(setup):
    """Each method of each endpoint, allowed or refused (another company's case: 404), leaves one row."""
    from api.services import api_client_create
    from tests.api_helpers import api_token

    world, _case, values = setup
    for company in (world.company_x, world.company_y):
        creds = api_client_create(name="ERP", scopes=["read", "write"], enterprise=company)
        api = Api(api_token(creds.client_id, creds.client_secret))
        for route in api_routes():
            url = fill(route, values)
            for method in ("GET", "POST"):  # a 405 is a call too
                before = AccessEvent.objects.filter(kind=AccessEvent.Kind.API_CALL).count()
                response = api.get(url) if method == "GET" else api.post(url, {})
                calls = AccessEvent.objects.filter(kind=AccessEvent.Kind.API_CALL).order_by("pk")
                last = calls.last()
                assert calls.count() == before + 1 and last is not None, (route, method)
                assert (last.data["method"], last.data["status"]) == (method, response.status_code), (route, method)
                assert last.path == url and last.actor == creds.client.user, (route, method)


@pytest.mark.parametrize("route", post_routes())
def test_every_post_honours_the_idempotency_key(setup, route):
    """Same key and body: the stored answer, marked replayed, nothing done twice; same key, other body: 422."""
    world, _case, values = setup
    api = gateway_api(world.head_office) if route in GATEWAY_ONLY else enterprise_api(world.company_x)
    url = fill(route, values)
    body = {"body": "幂等测试留言"} if route.endswith("/messages/") else {}
    events = AccessEvent.objects.count()
    first = api.post(url, body, **{"Idempotency-Key": f"k-{route}"})
    again = api.post(url, body, **{"Idempotency-Key": f"k-{route}"})
    assert again.status_code == first.status_code and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert api.post(url, {"other": 1}, **{"Idempotency-Key": f"k-{route}"}).status_code == 422
    assert AccessEvent.objects.count() == events + 3
    if route.endswith("/messages/"):
        assert first.status_code == 201
        assert _case.messages.filter(body="幂等测试留言").count() == 1
