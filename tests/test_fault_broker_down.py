"""The broker really unreachable (a Redis URL on a port nothing listens on): writes still succeed.

The message is saved, the page answers, its mail waits in the outbox and goes out when the
broker is back (here: the flush runs the send in this process).
"""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest
from django.core import mail

from config.celery import app
from notices import outbox
from notices.models import OutboxEmail
from onboarding.states import State
from portal.models import CaseMessage


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again at once: nothing listens there


@pytest.fixture
def dead_broker():
    keys = ("broker_url", "task_always_eager")
    saved = {k: app.conf[k] for k in keys}
    app.conf.update(broker_url=f"redis://127.0.0.1:{_dead_port()}/0", task_always_eager=False)
    app._pool = None
    app.__dict__.pop("amqp", None)
    try:
        yield
    finally:
        app.conf.update(saved)
        app._pool = None
        app.__dict__.pop("amqp", None)


@pytest.mark.django_db(transaction=True)
def test_a_message_posted_while_the_broker_is_down_is_saved_and_its_mail_waits(
    world, client, login, dead_broker, caplog
) -> None:
    case = world.case(State.JOINT_TESTING)
    mail.outbox.clear()
    login(client, world.customer_x)
    started = time.monotonic()
    response = client.post(f"/portal/cases/{case.public_id}/messages/", {"body": "测试报告已上传,请查收"})
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    message = CaseMessage.objects.get(case=case)
    row = OutboxEmail.objects.get(key=f"message:{message.pk}")
    assert row.sent_at is None and not mail.outbox
    assert "mail broker unavailable" in caplog.text
    # Not a timed test of speed: only that the request did not sit in kombu's retry loop.
    assert elapsed < 15, elapsed
    # The broker is back (eager again): the next flush sends it, once.
    app.conf.task_always_eager = True
    # (Outbox rows are evidence and cannot be backdated: the flush runs a little later instead.)
    # Everything that waited goes out (the case's own hand-off mails too), each once.
    later = row.created_at + dt.timedelta(minutes=5)
    waiting = OutboxEmail.objects.filter(sent_at__isnull=True).count()
    assert outbox.outbox_flush(now=later) == waiting
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1
    assert len(mail.outbox) == waiting
    assert [m.to for m in mail.outbox if "测试报告已上传" in m.body] == [[world.am_a.email]]
    assert outbox.outbox_flush(now=later) == 0
