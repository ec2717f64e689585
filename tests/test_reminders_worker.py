"""A stalled case produces its e-mail through a real Celery worker on the real Redis."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone
from freezegun import freeze_time

from config.celery import app
from notices.models import OutboxEmail
from onboarding.states import State
from reminders import tasks
from reminders.models import Reminder


@pytest.fixture
def real_celery(redis_url: str):
    """Point the app at Redis with eager mode off (tests/testenv.py turns it on) on a private queue."""
    queue = f"test-reminders-{uuid.uuid4().hex[:12]}"
    keys = ("broker_url", "result_backend", "task_always_eager", "task_default_queue", "broker_connection_retry")
    saved = {k: app.conf[k] for k in keys}
    app.conf.update(
        broker_url=redis_url,
        result_backend=None,
        task_always_eager=False,
        task_default_queue=queue,
        broker_connection_retry=False,
    )
    app._pool = None  # forget any connection pool made for the previous broker
    # The routing tables (default queue) are built once, on first use; an earlier test that
    # ran tasks eagerly built them for the default queue. Rebuild them for ours.
    app.__dict__.pop("amqp", None)
    try:
        with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=[queue], loglevel="INFO"):
            yield app
    finally:
        app.conf.update(saved)
        app._pool = None
        app.__dict__.pop("amqp", None)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_stalled_case_is_mailed_through_the_worker(world, real_celery) -> None:
    with freeze_time(timezone.now() - dt.timedelta(days=60)):
        case = world.case(State.BRANCH_INTAKE)  # 5 working days, long past even 2×
    assert real_celery.conf.task_always_eager is False
    mail.outbox.clear()

    tasks.sweep_stalled.delay()

    def reminder_mails() -> list[mail.EmailMessage]:
        # The case walk's own transition notices go through the worker too; keep only reminders.
        return [m for m in mail.outbox if "overdue" in m.subject]

    def marked_sent() -> int:
        keys = [f"reminder:{pk}" for pk in Reminder.objects.filter(case=case).values_list("pk", flat=True)]
        return OutboxEmail.objects.filter(key__in=keys, sent_at__isnull=False).count()

    deadline = time.monotonic() + 60
    while (len(reminder_mails()) < 3 or marked_sent() < 3) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(m.to[0] for m in reminder_mails()) == sorted(
        [world.am_a.email, world.supervisor.email, world.approver.email]
    ), "the worker did not deliver the three reminder e-mails within 60 s"
    assert sorted(Reminder.objects.filter(case=case).values_list("level", flat=True)) == [1, 2, 3]
    assert marked_sent() == 3

    # A second sweep through the worker finds nothing new to send.
    tasks.sweep_stalled.delay()
    time.sleep(1.0)
    assert len(reminder_mails()) == 3
