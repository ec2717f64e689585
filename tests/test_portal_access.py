"""A generated matrix: every portal and staff URL × {customer of X, customer of Y, anonymous}.

The URL list is walked from the resolver, so a URL added later is checked without anyone
remembering to add it here. Ids are filled with real objects of company X.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from onboarding.states import State
from tests.portal_helpers import invite, member

# Not product pages: Django's own admin, the login and second-factor pages of django-allauth
# (accounts/; they show no case data and have their own tests) and the language switch.
# The API (api/v1/) answers tokens, not sessions: its own matrix is tests/test_api_access.py.
SKIPPED_PREFIXES = ("admin/", "i18n/", "login/", "logout/", "accounts/", "api/")
# The invitation link is public by design: the secret token is the credential.
# The load balancer's probes say only whether the process, database and Redis answer.
PUBLIC_ROUTES = {"portal/invite/<str:token>/", "favicon.ico", "healthz", "readyz"}
# Any logged-in user: sends customers to the portal and staff to their workspace.
ANY_USER_ROUTES = {"portal/start/"}
# Pages for enterprise users. Everything else that is not skipped is a staff page: a new
# customer-facing page elsewhere (e.g. a document download under /documents/) must be
# listed here after the merge, or this matrix fails on it.
CUSTOMER_PREFIXES = ("portal/",)
# Pages both sides use: documents of their own cases (uploads, downloads, generated forms)
# and their own in-app notifications and e-mail settings.
# Customers of the case's company reach them (some answer 403, e.g. review), others get 404.
SHARED_PREFIXES = ("documents/", "reminders/", "notices/")
STAFF_PREFIXES_UNDER_PORTAL = ("portal/staff/",)

PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _walk(patterns: list[Any], prefix: str = "") -> list[str]:
    routes = []
    for p in patterns:
        if isinstance(p, URLResolver):
            routes += _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            routes.append(prefix + str(p.pattern))
    return routes


def all_routes() -> list[str]:
    return sorted(r for r in _walk(get_resolver().url_patterns) if not r.startswith(SKIPPED_PREFIXES))


def kind(route: str) -> str:
    if route in PUBLIC_ROUTES:
        return "public"
    if route in ANY_USER_ROUTES:
        return "any"
    if route.startswith(STAFF_PREFIXES_UNDER_PORTAL):
        return "staff"
    if route.startswith(CUSTOMER_PREFIXES):
        return "customer"
    if route.startswith(SHARED_PREFIXES):
        return "shared"
    return "staff"


def fill(route: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in values:
            raise AssertionError(f"no test value for URL parameter {name!r} in {route!r}: add one to the matrix")
        return values[name]

    return "/" + PARAM.sub(sub, route)


def random_values() -> dict[str, str]:
    return {
        "public_id": str(uuid.uuid4()),
        "enterprise_id": str(uuid.uuid4()),
        "member_id": str(uuid.uuid4()),
        "token": "x" * 43,
        "name": "submit",
        "item_id": str(uuid.uuid4()),
        "action": "download",
        "case_id": str(uuid.uuid4()),
        "kind": "application_form",
        "document_id": str(uuid.uuid4()),
        "version_id": str(uuid.uuid4()),
        "link_id": str(uuid.uuid4()),
        "username": f"nobody-{uuid.uuid4().hex[:8]}",
        "request_kind": "suspension",
        "request_id": str(uuid.uuid4()),
    }


def _operator_change(world: Any) -> Any:
    """A request on a live link of company X (its pages are tested in test_links_operator_change.py)."""
    from links import changes
    from links.models import LiveLink

    link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
    return changes.operator_change_open(
        link=link, user=world.customer_x, action="add", name="操作员乙", id_number="310104198001010017", role="review"
    )


def _live_link(case: Any) -> Any:
    """A live link of company X for the matrix (a row as go-live leaves it; its pages are tested in test_links.py)."""
    from links.models import LiveLink

    return LiveLink.objects.create(
        reference="ZLFW-MATRIX",
        onboarding_case=case,
        enterprise=case.enterprise,
        branch=case.branch,
        company_version=case.company_version,
    )


@pytest.fixture
def setup(world):
    case = world.case(State.JOINT_TESTING)
    draft = world.case(State.DRAFT)
    _inv, token = invite(world)
    document = case.documents.filter(versions__isnull=False).first()
    assert document is not None
    values = {
        "public_id": str(case.public_id),
        "enterprise_id": str(world.company_x.public_id),
        "member_id": str(member(world.customer_x, admin=True).public_id),
        "token": token,
        "name": "submit",
        # Counter items (operators, entries, UKeys) live on staff pages only: any id will do,
        # the customer must be refused before the item is looked up.
        "item_id": str(uuid.uuid4()),
        "action": "download",
        "case_id": str(case.public_id),
        "kind": "application_form",
        "document_id": str(document.public_id),
        "version_id": str(document.versions.latest("pk").public_id),
        "link_id": str(_live_link(case).public_id),
        # A person whose work a supervisor hands on is named by their login, never by a row number.
        "username": world.am_a.username,
        "request_kind": "suspension",
        "request_id": str(_operator_change(world).case.public_id),
    }
    member(world.customer_y, admin=True)
    secrets = [world.company_x.name, case.reference, draft.reference, str(case.public_id)]
    return world, values, secrets


def _request(client, url: str):
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


def test_the_matrix_sees_the_portal_and_the_staff_pages():
    routes = all_routes()
    kinds = {kind(r) for r in routes}
    assert {"customer", "staff", "shared", "public", "any"} <= kinds
    assert "portal/cases/<uuid:public_id>/" in routes and "cases/<uuid:public_id>/" in routes


def test_object_ids_in_urls_are_never_integers():
    for route in all_routes():
        for m in PARAM.finditer(route):
            assert m.group("conv") != "int", route
            if m.group("name").endswith("id"):
                assert m.group("conv") == "uuid", route


@pytest.mark.parametrize("who", ["customer_x", "customer_y", "anonymous"])
def test_every_url_for_customers_and_anonymous(setup, client, who):
    world, values, secrets = setup
    if who != "anonymous":
        client.force_login(getattr(world, who))
    failures = []
    for route in all_routes():
        url = fill(route, values)
        k = kind(route)
        response = _request(client, url)
        status = response.status_code
        if who == "anonymous":
            ok = status == 200 if k == "public" else status == 302 and response["Location"].startswith("/login/")
        elif k == "staff":
            # A page meant for staff sends a customer to the portal (a post is refused).
            ok = status in (403, 404) or (status == 302 and response["Location"] == "/portal/start/")
        elif k == "any":
            ok = status == 302 and response["Location"] == "/portal/"
        elif k == "public":
            ok = status == 200
        elif who == "customer_x" and k == "shared":
            ok = status in (200, 302, 403, 405)
        elif who == "customer_x":
            ok = status in (200, 302, 405)
        else:  # customer of Y on X's pages
            ok = status == 404 if PARAM.search(route) else status in (200, 302)
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        body = raw.decode(errors="replace") if status == 200 else ""
        if who != "customer_x" and k != "public" and any(s in body for s in secrets):
            failures.append((route, status, "shows company X's data"))
        if not ok:
            failures.append((route, status, response.get("Location", "")))
    assert failures == []


def test_guessed_ids_find_nothing(setup, client):
    world, _values, _secrets = setup
    client.force_login(world.customer_x)
    for route in all_routes():
        if not PARAM.search(route) or kind(route) == "public":
            continue
        response = _request(client, fill(route, random_values()))
        expected = (404,) if kind(route) in ("customer", "shared") else (403, 404)
        sent_to_portal = response.status_code == 302 and response["Location"] == "/portal/start/"
        assert response.status_code in expected or (kind(route) == "staff" and sent_to_portal), route


def test_bank_staff_do_not_use_the_customer_pages(setup, client):
    world, values, _secrets = setup
    for staff in (world.am_a, world.supervisor, world.auditor):
        client.force_login(staff)
        for route in all_routes():
            if kind(route) == "customer":
                assert _request(client, fill(route, values)).status_code == 403, (staff, route)


def test_staff_portal_pages_are_scoped_to_the_branch_subtree(setup, client):
    world, values, _secrets = setup
    client.force_login(world.am_b)
    for route in all_routes():
        if route.startswith(STAFF_PREFIXES_UNDER_PORTAL):
            assert _request(client, fill(route, values)).status_code == 404, route
    client.force_login(world.am_a)
    assert client.get(fill("portal/staff/enterprises/<uuid:enterprise_id>/", values)).status_code == 200


def test_the_customer_sees_its_own_case(setup, client):
    world, values, secrets = setup
    client.force_login(world.customer_x)
    response = client.get(f"/portal/cases/{values['public_id']}/")
    assert response.status_code == 200
    assert secrets[1] in response.content.decode()


def test_a_customer_login_lands_in_the_portal_and_staff_in_the_workspace(world, client):
    from tests.factories import PASSWORD
    from tests.test_security_mfa import password_and_totp_login

    response = client.post("/login/", {"login": "customer_x", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/portal/"
    client.logout()
    from audit.mfa import totp_enrol
    from tests.factories import TOTP_SECRET

    totp_enrol(world.am_a, TOTP_SECRET)
    response = password_and_totp_login(client, "am_a")
    assert client.get(response.url, follow=True).redirect_chain[-1][0] == "/"


def test_the_admin_site_shows_customers_nothing(world, client):
    client.force_login(world.customer_x)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
