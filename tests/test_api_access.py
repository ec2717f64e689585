"""A generated matrix: every /api/v1/ URL × {client of X, client of Y, bank client of A and of B, read-only, no token}.

The URL list is walked from the resolver (as tests/test_portal_access.py does for the pages),
so an endpoint added later is checked without anyone remembering to add it here.
"""

from __future__ import annotations

import pytest

from audit.models import AccessEvent
from branches.roles import Role
from onboarding.states import State
from tests.api_helpers import Api, bank_api, enterprise_api
from tests.test_portal_access import PARAM, fill

API_PREFIX = "api/v1/"
# Not resources: the token endpoint (takes client credentials) and the schema and its reference page.
OPEN_ROUTES = {"api/v1/oauth/token/", "api/v1/schema/", "api/v1/docs/"}


def api_routes() -> list[str]:
    from django.urls import get_resolver

    from tests.test_portal_access import _walk

    return sorted(r for r in _walk(get_resolver().url_patterns) if r.startswith(API_PREFIX) and r not in OPEN_ROUTES)


def _call(api: Api, url: str):
    response = api.get(url)
    if response.status_code == 405:
        response = api.post(url, {})
    return response


@pytest.fixture
def setup(world):
    case = world.case(State.JOINT_TESTING)
    document = case.documents.filter(versions__isnull=False).first()
    assert document is not None
    values = {"case_id": str(case.public_id), "version_id": str(document.versions.latest("pk").public_id)}
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
        response = _call(api, fill(route, values))
        # 400: the empty body was refused by the rule or the serializer, after the case was found;
        # 403: a bank system opens no drafts (a company's client does).
        allowed = (200, 201, 400, 403) if who == "bank_a" else (200, 201, 400)
        if response.status_code not in allowed:
            failures.append((route, response.status_code))
    assert failures == []


@pytest.mark.parametrize("who", ["client_y", "bank_b"])
def test_other_company_and_branch_get_404_everywhere(setup, who):
    world, case, values = setup
    api = enterprise_api(world.company_y) if who == "client_y" else bank_api(world.tier1_other, Role.ACCOUNT_MANAGER)
    failures = []
    for route in api_routes():
        response = _call(api, fill(route, values))
        if PARAM.search(route):
            ok = response.status_code == 404
        else:
            ok = response.status_code in (200, 201, 400, 403) and case.reference.encode() not in response.content
        if not ok:
            failures.append((route, response.status_code))
    assert failures == []


def test_without_a_token_every_endpoint_is_401(setup):
    _world, _case, values = setup
    for route in api_routes():
        assert _call(Api(None), fill(route, values)).status_code == 401, route


def test_read_only_client_cannot_post(setup):
    world, _case, values = setup
    api = enterprise_api(world.company_x, scopes="read")
    for route in api_routes():
        url = fill(route, values)
        if api.get(url).status_code == 405:
            assert api.post(url, {}).status_code == 403, route
        else:
            assert api.get(url).status_code == 200, route


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
