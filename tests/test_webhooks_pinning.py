"""DNS rebinding: a delivery connects to the very address that was checked, with the URL's name for TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import override_settings

from onboarding.states import State
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEvent

REAL_GETADDRINFO = socket.getaddrinfo
PUBLIC = "93.184.216.34"


class RebindingResolver:
    """Answers a public address for the first lookup of a name and 127.0.0.1 for every later one.

    Address literals resolve as the real resolver does (no DNS is asked for them).
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(str(host))
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        except ValueError:
            pass
        self.names.append(str(host))
        answer = PUBLIC if len(self.names) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port or 443)))]


class Listener:
    """A TCP socket on 127.0.0.1 that counts the connections it accepts (any protocol)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                conn, _addr = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.stop()


def test_a_rebinding_dns_answer_does_not_reach_a_local_address(
    world, monkeypatch, listener, django_capture_on_commit_callbacks
):
    resolver = RebindingResolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(services, "TIMEOUT", (0.5, 0.5))
    endpoint = services.endpoint_add(
        url=f"https://hooks.example.com:{listener.port}/hook",
        events=[WebhookEvent.STAGE_ENTERED],
        enterprise=world.company_x,
    )
    resolver.names.clear()  # the send's check is the first lookup again: it answers the public address
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.delivery_test(endpoint=endpoint)
    delivery.refresh_from_db()
    assert resolver.names == ["hooks.example.com"]  # checked once; the connection did not ask again
    assert listener.accepted == 0
    assert delivery.delivered_at is None and delivery.attempts == 1 and delivery.last_error


def test_a_name_that_now_resolves_to_a_local_address_is_refused_before_connecting(
    world, monkeypatch, listener, django_capture_on_commit_callbacks
):
    resolver = RebindingResolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    endpoint = services.endpoint_add(
        url=f"https://hooks.example.com:{listener.port}/hook",
        events=[WebhookEvent.STAGE_ENTERED],
        enterprise=world.company_x,
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.delivery_test(endpoint=endpoint)  # second lookup: 127.0.0.1
    delivery.refresh_from_db()
    assert listener.accepted == 0
    assert delivery.delivered_at is None and delivery.last_status is None and "内网" in delivery.last_error


# --- TLS to a pinned address: SNI and the certificate's name are the URL's host -------------------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsReceiver:
    def __init__(self, cert: Path, key: Path) -> None:
        self.sni: list[str | None] = []
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                receiver.hosts.append(self.headers["host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: receiver.sni.append(name)  # type: ignore[assignment]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[TlsReceiver, Path]]:
    cert, key = _certificate(tmp_path, "hooks.example.test")
    receiver = TlsReceiver(cert, key)
    yield receiver, cert
    receiver.stop()


def test_tls_to_the_pinned_address_uses_the_hosts_name(tls_receiver):
    receiver, cert = tls_receiver
    target = services.Target(None, "https", "hooks.example.test", receiver.port, "/hook", ("127.0.0.1",))
    status = services.pinned_post(target, body=b"{}", headers={"content-type": "application/json"}, ca_certs=str(cert))
    assert status == 204
    assert receiver.sni == ["hooks.example.test"]
    assert receiver.hosts == [f"hooks.example.test:{receiver.port}"]


def test_a_certificate_for_another_name_is_refused(tls_receiver):
    receiver, cert = tls_receiver
    target = services.Target(None, "https", "other.example.test", receiver.port, "/hook", ("127.0.0.1",))
    with pytest.raises(urllib3.exceptions.SSLError):
        services.pinned_post(target, body=b"{}", headers={}, ca_certs=str(cert))
    assert receiver.hosts == []


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_the_plain_path_still_reaches_a_receiver_on_127_0_0_1(world, django_capture_on_commit_callbacks):
    """The normal path in development: http://127.0.0.1 (allowed only with WEBHOOK_ALLOW_LOOPBACK)."""
    from tests.test_webhooks import Receiver

    receiver = Receiver([])
    try:
        endpoint = services.endpoint_add(
            url=receiver.url, events=[WebhookEvent.STAGE_ENTERED], enterprise=world.company_x
        )
        receiver.secret = endpoint.secret
        case = world.case(State.DRAFT)
        from onboarding import services as case_services

        with django_capture_on_commit_callbacks(execute=True):
            case_services.case_transition(case=case, user=world.customer_x, name="submit")
    finally:
        receiver.stop()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.delivered_at is not None and delivery.last_status == 200
    assert [r["verified"] for r in receiver.requests] == [True]


def test_the_next_checked_address_is_tried_when_one_cannot_be_connected_to(tls_receiver):
    receiver, cert = tls_receiver
    # Nothing listens on 127.0.0.2 (the receiver is bound to 127.0.0.1 only): refused, then the next.
    target = services.Target(None, "https", "hooks.example.test", receiver.port, "/hook", ("127.0.0.2", "127.0.0.1"))
    assert services.pinned_post(target, body=b"{}", headers={}, ca_certs=str(cert)) == 204
    assert receiver.hosts == [f"hooks.example.test:{receiver.port}"]
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        services.pinned_post(
            services.Target(None, "https", "hooks.example.test", receiver.port, "/", ("127.0.0.2",)),
            body=b"{}",
            headers={},
            ca_certs=str(cert),
        )
