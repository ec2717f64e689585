"""Webhooks: SSRF refusals, Standard Webhooks signatures, the outbox with back-off, a real receiver on 127.0.0.1."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notices.models import Notification
from onboarding import services as case_services
from onboarding.states import State
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


class Receiver:
    """An HTTP server on 127.0.0.1 that answers `codes` in turn (then 200) and verifies every signature."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = list(codes)
        self.secret = ""
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                    verified = True
                except WebhookVerificationError:
                    verified = False
                code = receiver.codes.pop(0) if receiver.codes else 200
                receiver.requests.append(
                    {"id": self.headers["webhook-id"], "verified": verified, "code": code, "body": body}
                )
                self.send_response(code)
                if code in (301, 302):
                    self.send_header("Location", "https://example.com/")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def make(codes: list[int]) -> Receiver:
        r = Receiver(codes)
        started.append(r)
        return r

    with override_settings(WEBHOOK_ALLOW_LOOPBACK=True):
        yield make
    for r in started:
        r.stop()


def _endpoint(world: Any, receiver: Receiver, events: list[str] | None = None) -> WebhookEndpoint:
    endpoint = services.endpoint_add(
        url=receiver.url, events=events or [WebhookEvent.STAGE_ENTERED], enterprise=world.company_x
    )
    receiver.secret = endpoint.secret
    return endpoint


def _retry_now() -> None:
    """Let the back-off elapse: every pending delivery is due now, and the flush sends it."""
    WebhookDelivery.objects.filter(delivered_at__isnull=True).update(next_attempt_at=timezone.now())
    services.deliveries_flush()


def test_a_receiver_that_fails_three_times_gets_the_message_once(
    world, receiver_factory, django_capture_on_commit_callbacks
):
    receiver = receiver_factory([500, 503, 500])
    case = world.case(State.DRAFT)
    endpoint = _endpoint(world, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_transition(case=case, user=world.customer_x, name="submit")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.attempts == 1 and delivery.last_status == 500
    waits = [delivery.next_attempt_at - delivery.log.last().at]
    for _ in range(2):
        _retry_now()
        delivery.refresh_from_db()
        waits.append(delivery.next_attempt_at - delivery.log.last().at)
    assert waits[0] < waits[1] < waits[2]  # exponential back-off
    _retry_now()
    _retry_now()  # nothing left to send
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None and delivery.attempts == 4
    assert [r["code"] for r in receiver.requests] == [500, 503, 500, 200]
    assert all(r["verified"] for r in receiver.requests)
    assert {r["id"] for r in receiver.requests} == {delivery.msg_id}
    assert [a.status for a in delivery.log.all()] == [500, 503, 500, 200]
    assert b'"to_state":"branch_intake"' in receiver.requests[-1]["body"]


def test_unsubscribed_events_and_other_companies_send_nothing(world, receiver_factory):
    receiver = receiver_factory([])
    endpoint = _endpoint(world, receiver, [WebhookEvent.CASE_LIVE])
    world.case(State.BRANCH_INTAKE)
    world.case(State.BRANCH_INTAKE, company=world.company_y)
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()


def test_an_endpoint_failing_for_a_day_is_disabled_with_a_notice(
    world, receiver_factory, django_capture_on_commit_callbacks
):
    from tests.portal_helpers import member

    member(world.customer_x, admin=True)
    receiver = receiver_factory([500] * 20)
    case = world.case(State.DRAFT)
    endpoint = _endpoint(world, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_transition(case=case, user=world.customer_x, name="submit")
    for _ in range(services.MAX_ATTEMPTS):
        _retry_now()
    endpoint.refresh_from_db()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert not endpoint.is_active and delivery.given_up_at is not None
    assert delivery.attempts == services.MAX_ATTEMPTS == len(receiver.requests)
    assert Notification.objects.filter(recipient=world.customer_x, kind="webhook").exists()


def test_redirects_are_not_followed(world, receiver_factory, django_capture_on_commit_callbacks):
    receiver = receiver_factory([302])
    endpoint = _endpoint(world, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.delivery_test(endpoint=endpoint)
    delivery.refresh_from_db()
    assert delivery.delivered_at is None and delivery.last_status == 302
    assert len(receiver.requests) == 1


def test_send_test_event_and_send_again(world, receiver_factory, django_capture_on_commit_callbacks):
    receiver = receiver_factory([])
    endpoint = _endpoint(world, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.delivery_test(endpoint=endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_send_again(delivery=delivery)
    assert [r["id"] for r in receiver.requests] == [delivery.msg_id, delivery.msg_id]
    assert all(r["verified"] for r in receiver.requests)


def test_rotation_signs_with_both_secrets_during_the_overlap(world, receiver_factory):
    receiver = receiver_factory([])
    endpoint = _endpoint(world, receiver)
    old = endpoint.secret
    new = services.endpoint_rotate_secret(endpoint=endpoint)
    now = timezone.now()
    sig = services.signature(endpoint, "msg_1", now, "{}")
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": sig}
    Webhook(old).verify("{}", headers)
    Webhook(new).verify("{}", headers)
    later = now + services.SECRET_OVERLAP + timezone.timedelta(seconds=1)
    assert len(services.signature(endpoint, "msg_1", later, "{}").split(" ")) == 1


def _resolving_to(monkeypatch: Any, address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(family, socket.SOCK_STREAM, 6, "", (address, 443))])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(monkeypatch, address):
    _resolving_to(monkeypatch, address)
    assert services.url_refusal("https://hooks.example.com/x") is not None


def test_a_public_https_address_is_accepted_and_http_is_not(monkeypatch):
    _resolving_to(monkeypatch, "93.184.216.34")
    assert services.url_refusal("https://hooks.example.com/x") is None
    assert services.url_refusal("http://hooks.example.com/x") is not None
    assert services.url_refusal("https://user:pw@hooks.example.com/x") is not None


def test_loopback_is_refused_without_the_test_setting():
    assert services.url_refusal("http://127.0.0.1:9/x") is not None
    assert services.url_refusal("https://127.0.0.1:9/x") is not None


def test_the_command_registers_an_endpoint(world, monkeypatch):
    _resolving_to(monkeypatch, "93.184.216.34")
    out = io.StringIO()
    call_command(
        "webhook_endpoint",
        "add",
        "--enterprise",
        world.company_x.uscc,
        "--url",
        "https://erp.example.com/hook",
        stdout=out,
    )
    assert "secret: whsec_" in out.getvalue()
    endpoint = WebhookEndpoint.objects.get(enterprise=world.company_x)
    assert WebhookEvent.TEST not in endpoint.events and WebhookEvent.CASE_LIVE in endpoint.events


def test_endpoints_hear_only_their_company_or_branch_subtree(world, receiver_factory):
    receiver = receiver_factory([])
    company_endpoint = _endpoint(world, receiver)
    branch_endpoint = services.endpoint_add(url=receiver.url, events=[WebhookEvent.STAGE_ENTERED], branch=world.tier1)
    mine = world.case(State.BRANCH_INTAKE)
    world.case(State.BRANCH_INTAKE, company=world.company_y)  # branch B, under the other tier-1 branch
    for endpoint in (company_endpoint, branch_endpoint):
        cases = {d.payload["data"]["case_id"] for d in WebhookDelivery.objects.filter(endpoint=endpoint)}
        assert cases == {str(mine.public_id)}
