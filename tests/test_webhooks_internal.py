"""The bank's own systems as webhook receivers: endpoints registered by the bank's administrators
(a branch's endpoints, /integrations/) may reach the internal networks of WEBHOOK_INTERNAL_NETWORKS;
a company's endpoints never do; the address connected to is still the one checked; every such
registration is an audit event naming the address and the network that let it through.

Everything goes through the pages as a browser posts them; DNS is a resolver the test controls.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from audit.models import AccessEvent
from tests.factories import Role, user
from tests.html_forms import form_with
from tests.portal_helpers import member
from tests.test_bank_integrations_page import PAGE, WHSEC, _audit, _endpoint_form, _form_data, _grant
from tests.test_webhooks_pinning import REAL_GETADDRINFO, Listener
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

ESB = "esb.bank.internal"
INSIDE = "192.0.2.10"  # a documentation address (never routed): a connection to it goes nowhere
LISTED = "192.0.2.0/24"


class Resolver:
    """Answers the given addresses for host names, one list per lookup (the last one repeats)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.names: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(str(host))
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        except ValueError:
            pass
        self.names.append(str(host))
        answer = self.answers[min(len(self.names), len(self.answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port or 443)))]


@pytest.fixture
def bank_admin(world: Any) -> Any:
    return _grant(user("admin_t1", Role.TECH_REVIEWER, branch=world.tier1))


@pytest.fixture
def listener():
    found = Listener()
    yield found
    found.stop()


def _register_on_the_bank_page(client: Any, admin: Any, branch: Any, url: str) -> Any:
    client.force_login(admin)
    form = form_with(client.get(PAGE).content.decode(), "url")
    return client.post(form.action, _form_data(form, url=url, branch=str(branch.pk), events=["case.live"]))


# --- allowed ---------------------------------------------------------------------------------------


def test_a_bank_administrator_registers_an_address_of_a_listed_network(
    world, client, bank_admin, settings, monkeypatch
):
    settings.WEBHOOK_INTERNAL_NETWORKS = ["10.0.0.0/8", LISTED]
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(INSIDE))
    response = _register_on_the_bank_page(client, bank_admin, world.branch_a, f"https://{ESB}/hooks")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.branch == world.branch_a and endpoint.created_by == bank_admin
    assert WHSEC.search(response.content.decode()).group(1) == endpoint.secret
    [event] = _audit("endpoint_add")
    assert event.actor == bank_admin and event.ip  # who, from where
    assert event.data["internal"] == [{"address": INSIDE, "network": LISTED}]
    assert INSIDE in event.reason and LISTED in event.reason  # read on the audit page as it is
    assert endpoint.secret not in str(event.data) + event.reason


def test_a_public_address_registers_without_an_internal_mark(world, client, bank_admin, settings, monkeypatch):
    settings.WEBHOOK_INTERNAL_NETWORKS = [LISTED]
    monkeypatch.setattr(socket, "getaddrinfo", Resolver("93.184.216.34"))
    _register_on_the_bank_page(client, bank_admin, world.branch_a, "https://esb.bank.example/hooks")
    [event] = _audit("endpoint_add")
    assert WebhookEndpoint.objects.count() == 1 and "internal" not in event.data


# --- refused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "address", "says"),
    [
        pytest.param([LISTED], "10.30.0.5", "WEBHOOK_INTERNAL_NETWORKS", id="not in the list"),
        pytest.param([], INSIDE, "WEBHOOK_INTERNAL_NETWORKS", id="the list is empty"),
        pytest.param(["10.0.0.0/8"], "127.0.0.1", "本机", id="loopback whatever is listed"),
        pytest.param(["10.0.0.0/8"], "169.254.169.254", "链路本地", id="link-local whatever is listed"),
    ],
)
def test_a_bank_address_outside_the_list_is_refused(
    world, client, bank_admin, settings, monkeypatch, listed, address, says
):
    settings.WEBHOOK_INTERNAL_NETWORKS = listed
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(address))
    response = _register_on_the_bank_page(client, bank_admin, world.branch_a, f"https://{ESB}/hooks")
    assert response.status_code == 200 and says in response.content.decode()
    assert not WebhookEndpoint.objects.exists() and not _audit("endpoint_add")


def test_a_companys_endpoint_never_reaches_a_listed_network(world, client, settings, monkeypatch):
    settings.WEBHOOK_INTERNAL_NETWORKS = [LISTED]
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(INSIDE))
    member(world.customer_x, admin=True)
    client.force_login(world.customer_x)
    form = form_with(client.get("/portal/integrations/").content.decode(), "url")
    response = client.post(form.action, _form_data(form, url=f"https://{ESB}/hooks", events=["case.live"]))
    html = response.content.decode()
    assert response.status_code == 200 and "内网" in html
    assert "WEBHOOK_INTERNAL_NETWORKS" not in html  # a customer is not told about the bank's settings
    assert not WebhookEndpoint.objects.exists() and not _audit("endpoint_add")


def test_the_command_line_follows_the_same_rule(world, settings, monkeypatch):
    """manage.py webhook_endpoint add: a branch's endpoint may, a company's may not."""
    from django.core.management import CommandError, call_command

    settings.WEBHOOK_INTERNAL_NETWORKS = [LISTED]
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(INSIDE))
    with pytest.raises(CommandError):
        call_command("webhook_endpoint", "add", "--enterprise", world.company_x.uscc, "--url", f"https://{ESB}/h")
    call_command("webhook_endpoint", "add", "--branch", world.branch_a.code, "--url", f"https://{ESB}/h")
    [event] = _audit("endpoint_add")
    assert event.username == "manage.py" and event.data["internal"] == [{"address": INSIDE, "network": LISTED}]


@pytest.mark.parametrize(
    "value",
    ["10.20.0.1/16", "0.0.0.0/0", "127.0.0.0/8", "169.254.0.0/16", "::/0", "fe80::/64", "not-a-network"],
)
def test_a_setting_that_opens_loopback_or_is_mistyped_stops_the_start(value, monkeypatch):
    import importlib

    import config.settings

    monkeypatch.setenv("WEBHOOK_INTERNAL_NETWORKS", value)
    try:
        with pytest.raises(ImproperlyConfigured, match="WEBHOOK_INTERNAL_NETWORKS"):
            importlib.reload(config.settings)
    finally:
        monkeypatch.delenv("WEBHOOK_INTERNAL_NETWORKS")
        importlib.reload(config.settings)


# --- pinning still holds ---------------------------------------------------------------------------


def _send_test_from_the_page(client: Any, endpoint: Any, capture: Any) -> WebhookDelivery:
    form = _endpoint_form(client.get(PAGE).content.decode(), endpoint.public_id)
    with capture(execute=True):
        client.post(form.action, _form_data(form, action="test"))
    return WebhookDelivery.objects.get(endpoint=endpoint, event_type=WebhookEvent.TEST)


def test_the_connection_goes_to_the_checked_internal_address_not_a_second_answer(
    world, client, bank_admin, settings, monkeypatch, listener, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_INTERNAL_NETWORKS = [LISTED]
    monkeypatch.setattr(services, "TIMEOUT", (0.5, 0.5))
    resolver = Resolver(INSIDE, INSIDE, "127.0.0.1")  # the page's check, the send's check, then rebinding
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    _register_on_the_bank_page(client, bank_admin, world.branch_a, f"https://{ESB}:{listener.port}/hooks")
    endpoint = WebhookEndpoint.objects.get()
    delivery = _send_test_from_the_page(client, endpoint, django_capture_on_commit_callbacks)
    assert resolver.names == [ESB, ESB]  # checked once per send; the connection did not ask again
    assert listener.accepted == 0  # nothing reached this host
    assert delivery.delivered_at is None and delivery.attempts == 1 and delivery.last_error


@pytest.mark.parametrize(("rebound", "says"), [("127.0.0.1", "本机"), ("10.99.0.1", "WEBHOOK_INTERNAL_NETWORKS")])
def test_a_name_that_now_answers_an_unlisted_address_is_refused_before_connecting(
    world, client, bank_admin, settings, monkeypatch, listener, django_capture_on_commit_callbacks, rebound, says
):
    settings.WEBHOOK_INTERNAL_NETWORKS = [LISTED]
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(INSIDE, rebound))
    _register_on_the_bank_page(client, bank_admin, world.branch_a, f"https://{ESB}:{listener.port}/hooks")
    endpoint = WebhookEndpoint.objects.get()
    delivery = _send_test_from_the_page(client, endpoint, django_capture_on_commit_callbacks)
    assert listener.accepted == 0
    assert delivery.delivered_at is None and delivery.attempts == 1 and says in delivery.last_error


def test_a_network_taken_off_the_list_receives_nothing_more(
    world, client, bank_admin, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_INTERNAL_NETWORKS = [LISTED]
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(INSIDE))
    _register_on_the_bank_page(client, bank_admin, world.branch_a, f"https://{ESB}/hooks")
    endpoint = WebhookEndpoint.objects.get()
    settings.WEBHOOK_INTERNAL_NETWORKS = []
    delivery = _send_test_from_the_page(client, endpoint, django_capture_on_commit_callbacks)
    assert delivery.delivered_at is None and "WEBHOOK_INTERNAL_NETWORKS" in delivery.last_error
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.ADMIN_CHANGE).count() == 2  # the add and the test
