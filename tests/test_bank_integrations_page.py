"""The bank administrator's page (/integrations/): the bank's API clients and webhook endpoints.

A bank administrator is a staff user holding `webhooks.manage_bank_integrations`; the page
lists and creates clients and endpoints for branches of their own subtree only. Tests go
through the page: render it, read its forms back as a browser would, post them.
"""

from __future__ import annotations

import io
import re
import socket
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import override_settings

from api.models import ApiClient
from api.services import api_client_create
from audit.models import AccessEvent
from branches.roles import Role
from notices.models import Notification
from onboarding.states import State
from tests.api_helpers import Api, api_token
from tests.factories import user
from tests.html_forms import browser_post_data, form_with, page_forms
from tests.portal_helpers import member
from tests.test_webhooks import Receiver, _retry_now
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

PAGE = "/integrations/"
POSTS = ["clients/new/", "clients/action/", "endpoints/new/", "endpoints/action/"]
SECRET = re.compile(r"<code>([A-Za-z0-9]{40,})</code>")
WHSEC = re.compile(r"<code>(whsec_[A-Za-z0-9+/=]+)</code>")


def _grant(person: Any) -> Any:
    person.user_permissions.add(Permission.objects.get(codename="manage_bank_integrations"))
    return type(person).objects.get(pk=person.pk)  # a fresh object: no cached permissions


@pytest.fixture
def bank_admin(world: Any) -> Any:
    """The administrator of tier-1 branch T1 (its subtree holds branch A, not T2 or branch B)."""
    return _grant(user("admin_t1", Role.TECH_REVIEWER, branch=world.tier1))


def _form_data(form: Any, **values: Any) -> dict[str, Any]:
    data: dict[str, Any] = browser_post_data(form)
    data.update(values)
    return data


def _options(form: Any, name: str) -> dict[str, str]:
    """value → label text is not kept by the parser; value list is enough to check the scope."""
    control = next(c for c in form.controls if c.name == name)
    return {value: value for value, _sel in control.options if value}


def _audit(action: str) -> list[AccessEvent]:
    return [e for e in AccessEvent.objects.filter(kind=AccessEvent.Kind.ADMIN_CHANGE) if e.data.get("action") == action]


# --- who may open it ------------------------------------------------------------------------------


def test_only_bank_administrators_reach_the_page(world, client, bank_admin):
    member(world.customer_x, admin=True)  # a company's portal administrator is not a bank administrator
    refused = [world.am_a, world.supervisor, world.approver, world.tech, world.auditor, world.customer_x]
    refused.append(_grant(world.customer_y))  # the permission without a home branch is not enough
    for person in refused:
        client.force_login(person)
        response = client.get(PAGE)
        if person.enterprise_id:  # a customer is sent to the portal, never shown a 403 for a staff page
            assert response.status_code == 302 and response["Location"] == "/portal/start/", person.username
        else:
            assert response.status_code == 403, person.username
        for url in POSTS:
            assert client.post(PAGE + url, {"name": "x"}).status_code == 403, (person.username, url)
    assert not ApiClient.objects.exists() and not AccessEvent.objects.filter(kind="admin_change").exists()

    client.force_login(bank_admin)
    page = client.get(PAGE)
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    assert 'href="/integrations/"' in client.get("/").content.decode()  # linked from the staff home page
    assert client.get("/portal/integrations/").status_code == 403  # and not the company's page


def test_the_home_page_link_is_only_for_bank_administrators(world, client):
    client.force_login(world.tech)
    assert 'href="/integrations/"' not in client.get("/").content.decode()


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- API clients ----------------------------------------------------------------------------------


def test_an_administrator_creates_a_client_for_a_branch_of_the_subtree(world, client, bank_admin):
    client.force_login(bank_admin)
    form = form_with(client.get(PAGE).content.decode(), "roles")
    branches = _options(form, "branch")
    assert set(branches) == {str(world.tier1.pk), str(world.branch_a.pk)}  # not T2, B or head office
    response = client.post(
        form.action,
        _form_data(form, name="核心系统", branch=str(world.branch_a.pk), roles=[Role.ACCOUNT_MANAGER], scopes=["read"]),
    )
    assert response.status_code == 200
    created = ApiClient.objects.get()
    assert created.branch == world.branch_a and created.enterprise is None and created.scopes == "read"
    assert set(created.user.groups.values_list("name", flat=True)) == {Role.ACCOUNT_MANAGER}
    secret = SECRET.search(response.content.decode()).group(1)
    assert created.application.client_secret != secret  # stored hashed
    assert secret not in client.get(PAGE).content.decode()  # shown once

    api = Api(api_token(created.application.client_id, secret))
    mine, other = world.case(State.BRANCH_INTAKE), world.case(State.BRANCH_INTAKE, company=world.company_y)
    assert api.get(f"/api/v1/cases/{mine.public_id}/").status_code == 200
    assert api.get(f"/api/v1/cases/{other.public_id}/").status_code == 404
    assert api.post(f"/api/v1/cases/{mine.public_id}/withdraw/", {"reason": "x"}).status_code == 403  # read only

    [event] = _audit("api_client_create")
    assert event.actor == bank_admin and event.data["owner"] == str(world.branch_a)
    assert event.data["roles"] == [Role.ACCOUNT_MANAGER] and secret not in str(event.data) + event.reason


def test_a_branch_outside_the_subtree_or_no_role_is_refused(world, client, bank_admin):
    client.force_login(bank_admin)
    form = form_with(client.get(PAGE).content.decode(), "roles")
    outside = client.post(
        form.action, _form_data(form, name="x", branch=str(world.branch_b.pk), roles=[Role.AUDITOR], scopes=["read"])
    )
    assert outside.status_code == 200 and "选择一个有效的选项" in outside.content.decode()
    no_role = client.post(form.action, _form_data(form, name="x", branch=str(world.branch_a.pk), scopes=["read"]))
    assert no_role.status_code == 200 and 'id="client-form"' in no_role.content.decode()
    assert not ApiClient.objects.exists() and not _audit("api_client_create")


def _client_action_form(html: str, public_id: Any) -> Any:
    return next(
        f
        for f in page_forms(html)
        if f.action.endswith("/clients/action/") and any(c.value == str(public_id) for c in f.controls)
    )


def test_rotate_and_revoke_through_the_page(world, client, bank_admin):
    creds = api_client_create(name="ESB", scopes=["read"], branch=world.branch_a, roles=[Role.AUDITOR])
    client.force_login(bank_admin)
    form = _client_action_form(client.get(PAGE).content.decode(), creds.client.public_id)
    rotated = client.post(form.action, _form_data(form, action="rotate"))
    new_secret = SECRET.search(rotated.content.decode()).group(1)
    assert new_secret != creds.client_secret
    assert api_token(creds.client_id, new_secret)
    old = Api(None).client.post(
        "/api/v1/oauth/token/",
        {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )
    assert old.status_code == 401

    form = _client_action_form(client.get(PAGE).content.decode(), creds.client.public_id)
    assert client.post(form.action, _form_data(form, action="revoke")).status_code == 302
    creds.client.refresh_from_db()
    assert not creds.client.active
    page = client.get(PAGE).content.decode()
    assert "已停用" in page and 'class="inactive"' in page
    assert [e.actor for e in _audit("api_client_rotate") + _audit("api_client_revoke")] == [bank_admin, bank_admin]


def test_another_subtrees_client_is_neither_listed_nor_changed(world, client, bank_admin):
    theirs = api_client_create(name="T2 系统", scopes=["read"], branch=world.branch_b, roles=[Role.AUDITOR])
    client.force_login(bank_admin)
    assert "T2 系统" not in client.get(PAGE).content.decode()
    response = client.post(PAGE + "clients/action/", {"client": theirs.client.public_id, "action": "revoke"})
    assert response.status_code == 302
    assert "没有找到该客户端" in client.get(PAGE).content.decode()
    theirs.client.refresh_from_db()
    assert theirs.client.active and not _audit("api_client_revoke")


# --- webhook endpoints ----------------------------------------------------------------------------


def test_an_administrator_registers_an_endpoint_for_a_branch(world, client, bank_admin, monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
    )
    client.force_login(bank_admin)
    form = form_with(client.get(PAGE).content.decode(), "url")
    assert set(_options(form, "branch")) == {str(world.tier1.pk), str(world.branch_a.pk)}
    events = [c.value for c in form.controls if c.name == "events"]
    assert WebhookEvent.DOCUMENT_REQUESTED in events and WebhookEvent.TEST not in events
    response = client.post(
        form.action,
        _form_data(
            form,
            url="https://esb.bank.example/hooks",
            branch=str(world.tier1.pk),
            events=[WebhookEvent.CASE_CREATED, WebhookEvent.CASE_LIVE],
        ),
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.branch == world.tier1 and endpoint.created_by == bank_admin
    assert WHSEC.search(response.content.decode()).group(1) == endpoint.secret
    assert endpoint.secret not in client.get(PAGE).content.decode()
    [event] = _audit("endpoint_add")
    assert event.actor == bank_admin and endpoint.secret not in str(event.data) + event.reason

    outside = client.post(
        form.action,
        _form_data(form, url="https://esb.bank.example/2", branch=str(world.branch_b.pk), events=["case.live"]),
    )
    assert outside.status_code == 200 and WebhookEndpoint.objects.count() == 1


def test_a_private_address_is_refused_with_a_reason(world, client, bank_admin, monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]
    )
    client.force_login(bank_admin)
    form = form_with(client.get(PAGE).content.decode(), "url")
    response = client.post(
        form.action,
        _form_data(form, url="https://esb.internal/hooks", branch=str(world.branch_a.pk), events=["case.live"]),
    )
    assert "内网" in response.content.decode() and not WebhookEndpoint.objects.exists()
    assert not _audit("endpoint_add")


def _endpoint_form(html: str, public_id: Any, *, delivery: Any = None) -> Any:
    return next(
        f
        for f in page_forms(html)
        if f.action.endswith("/endpoints/action/")
        and any(c.name == "endpoint" and c.value == str(public_id) for c in f.controls)
        and (delivery is None) == all(c.name != "delivery" for c in f.controls)
        and (delivery is None or any(c.value == str(delivery) for c in f.controls))
    )


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_test_event_log_send_again_rotation_and_disabling(
    world, client, bank_admin, django_capture_on_commit_callbacks
):
    receiver = Receiver([])
    try:
        endpoint = webhook_services.endpoint_add(
            url=receiver.url, events=[WebhookEvent.STAGE_ENTERED], branch=world.branch_a
        )  # by the command line: no creator; its owners are the bank administrators above branch A
        receiver.secret = endpoint.secret
        client.force_login(bank_admin)

        form = _endpoint_form(client.get(PAGE).content.decode(), endpoint.public_id)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(form.action, _form_data(form, action="test"))
        delivery = WebhookDelivery.objects.get(endpoint=endpoint, event_type=WebhookEvent.TEST)
        assert [(r["id"], r["verified"]) for r in receiver.requests] == [(delivery.msg_id, True)]
        page = client.get(PAGE).content.decode()
        assert delivery.msg_id in page and '<span class="attempt"' in page and "已送达" in page

        again = _endpoint_form(page, endpoint.public_id, delivery=delivery.public_id)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(again.action, _form_data(again, action="send_again"))
        assert [r["id"] for r in receiver.requests] == [delivery.msg_id, delivery.msg_id]

        form = _endpoint_form(client.get(PAGE).content.decode(), endpoint.public_id)
        old_secret = endpoint.secret
        rotated = client.post(form.action, _form_data(form, action="rotate"))
        endpoint.refresh_from_db()
        assert WHSEC.search(rotated.content.decode()).group(1) == endpoint.secret != old_secret
        assert endpoint.previous_secret == old_secret and "旧密钥签名至" in client.get(PAGE).content.decode()

        receiver.secret = old_secret  # a receiver not switched yet still verifies during the overlap
        receiver.codes = [500] * webhook_services.MAX_ATTEMPTS
        with django_capture_on_commit_callbacks(execute=True):
            from onboarding import services as case_services

            case_services.case_transition(case=world.case(State.DRAFT), user=world.customer_x, name="submit")
        for _ in range(webhook_services.MAX_ATTEMPTS):
            _retry_now()
    finally:
        receiver.stop()
    assert all(r["verified"] for r in receiver.requests)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert Notification.objects.filter(recipient=bank_admin, kind="webhook").exists()  # told, as its owner
    page = client.get(PAGE).content.decode()
    assert "已停用" in page and 'value="enable"' in page and "HTTP 500" in page
    actions = [e.data["action"] for e in AccessEvent.objects.filter(kind="admin_change").order_by("pk")]
    assert actions == ["endpoint_add", "delivery_test", "delivery_send_again", "endpoint_rotate_secret"]
    assert AccessEvent.objects.filter(kind="admin_change").first().username == "manage.py"


def test_another_subtrees_endpoint_is_not_listed_or_tested(world, client, bank_admin, monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
    )
    theirs = webhook_services.endpoint_add(
        url="https://t2.bank.example/hooks", events=["case.live"], branch=world.tier1_other
    )
    company = webhook_services.endpoint_add(
        url="https://erp.example.com/hooks", events=["case.live"], enterprise=world.company_x
    )
    client.force_login(bank_admin)
    page = client.get(PAGE).content.decode()
    assert theirs.url not in page and company.url not in page
    for endpoint in (theirs, company):
        client.post(PAGE + "endpoints/action/", {"endpoint": endpoint.public_id, "action": "test"})
    assert not WebhookDelivery.objects.exists()


def test_the_commands_are_audited_too(world, monkeypatch):
    out = io.StringIO()
    call_command("api_client", "create", "--branch", world.branch_a.code, "--roles", "auditor", stdout=out)
    [event] = _audit("api_client_create")
    assert event.actor is None and event.username == "manage.py"
    secret = re.search(r"client_secret: (\S+)", out.getvalue()).group(1)
    assert secret not in str(event.data) + event.reason


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_a_disabled_endpoint_is_shown_as_such_and_sends_nothing_until_enabled(world, client, bank_admin):
    endpoint = webhook_services.endpoint_add(url="http://127.0.0.1:9/hook", events=["case.live"], branch=world.branch_a)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_reason="HTTP 500")
    client.force_login(bank_admin)
    html = client.get(PAGE).content.decode()
    form = _endpoint_form(html, endpoint.public_id)
    assert 'class="inactive"' in html and "HTTP 500" in html and 'value="test"' not in html
    client.post(form.action, _form_data(form, action="test"))  # a stale page's button
    assert "已停用,请先重新启用" in client.get(PAGE).content.decode()
    assert not WebhookDelivery.objects.exists() and not _audit("delivery_test")
    client.post(form.action, _form_data(form, action="enable"))
    endpoint.refresh_from_db()
    assert endpoint.is_active and [e.actor for e in _audit("endpoint_enable")] == [bank_admin]
    assert 'value="test"' in client.get(PAGE).content.decode()
