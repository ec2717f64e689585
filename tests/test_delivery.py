"""The delivery kernel: a toy channel declared here, in one small class, gets everything.

Its rows are sent by the worker after commit, retried with back-off, given up after the last
attempt, listed on the one admin page, and flushed by the beat entry the channel brought; a
broker that is down or frozen costs the writer no wait, and the row goes out with the flush.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.utils import timezone
from freezegun import freeze_time

from config.celery import app
from delivery.channels import Channel, DeliveryFailed, channels, deliver, flush, register
from delivery.models import DeliveryRow
from notices import outbox
from notices.models import OutboxEmail
from tests.test_reminders_worker import real_celery  # noqa: F401 (the fixture)


class ToyRow(DeliveryRow):
    text = models.CharField(max_length=50)

    class Meta:
        app_label = "delivery_toy"  # not an installed app: no migration, a table made by the fixture

    def __str__(self) -> str:
        return self.text


class ToyChannel(Channel):
    """The whole channel: its rows, how one is sent, its back-off and give-up."""

    key = "toy"
    label = "玩具渠道"
    model = ToyRow
    retry_schedule = (10, 100)  # three attempts: at once, 10 s later, 100 s after that
    refusals: ClassVar[dict[str, int]] = {}  # text → how many more attempts the far side refuses
    sent: ClassVar[list[str]] = []
    given_up_texts: ClassVar[list[str]] = []

    def send(self, row: Any, now: dt.datetime) -> None:
        if self.refusals.get(row.text, 0) > 0:
            self.refusals[row.text] -= 1
            raise DeliveryFailed("对方拒收")
        self.sent.append(row.text)

    def on_give_up(self, row: Any, error: str, now: dt.datetime) -> None:
        self.given_up_texts.append(row.text)


@pytest.fixture(scope="module")
def toy_table(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    from config.dbroles import connected_as_owner

    with django_db_blocker.unblock():
        with connected_as_owner(connection), connection.schema_editor() as editor:  # DDL: the owner's
            editor.create_model(ToyRow)
        try:
            yield
        finally:
            with connected_as_owner(connection), connection.schema_editor() as editor:
                editor.delete_model(ToyRow)


@pytest.fixture
def toy(toy_table: None) -> Iterator[type[ToyChannel]]:
    register(ToyChannel)
    ToyChannel.refusals.clear()
    ToyChannel.sent.clear()
    ToyChannel.given_up_texts.clear()
    try:
        yield ToyChannel
    finally:
        channels.remove(ToyChannel)
        app.conf.beat_schedule.pop("delivery-toy", None)


def toy_row(text: str) -> ToyRow:
    """A row written in the writer's transaction, its delivery queued after commit."""
    with transaction.atomic():
        row = ToyRow.objects.create(text=text)
        deliver(ToyChannel, [row.pk])
        assert ToyChannel.sent == []  # nothing goes out before the commit
    return row


def test_a_row_is_sent_by_the_worker_after_commit(db, toy, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        row = toy_row("a")
    row.refresh_from_db()
    assert toy.sent == ["a"] and row.sent_at is not None and row.attempts == 1 and row.last_error == ""
    # A redelivered task (worker killed after the commit, before the ack) sends nothing twice.
    assert toy().send_ids([row.pk]) == 0 and toy.sent == ["a"]


def test_a_rolled_back_write_sends_nothing(db, toy, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        ToyRow.objects.create(text="never")
        deliver(ToyChannel, [1])
        raise RuntimeError("the change failed")
    assert toy.sent == [] and not ToyRow.objects.exists()


def test_a_refused_row_is_retried_with_back_off_then_sent_once(db, toy, django_capture_on_commit_callbacks) -> None:
    toy.refusals["b"] = 2
    t0 = timezone.now()
    with freeze_time(t0), django_capture_on_commit_callbacks(execute=True):
        row = toy_row("b")
    row.refresh_from_db()
    assert (row.attempts, row.last_error, row.sent_at) == (1, "对方拒收", None)
    assert row.next_attempt_at == t0 + dt.timedelta(seconds=10)
    with freeze_time(t0 + dt.timedelta(seconds=9)):
        assert flush(ToyChannel) == 0  # not due yet
    with freeze_time(t0 + dt.timedelta(seconds=10)):
        assert flush(ToyChannel) == 1
    row.refresh_from_db()
    assert row.attempts == 2 and row.next_attempt_at == t0 + dt.timedelta(seconds=110)  # the longer wait
    with freeze_time(t0 + dt.timedelta(seconds=110)):
        assert flush(ToyChannel) == 1
        assert flush(ToyChannel) == 0  # sent: nothing left
    row.refresh_from_db()
    assert toy.sent == ["b"] and row.attempts == 3 and row.sent_at is not None and row.last_error == ""
    assert toy.given_up_texts == []


def test_a_row_refused_every_time_is_given_up_after_its_last_attempt(
    db, toy, django_capture_on_commit_callbacks
) -> None:
    toy.refusals["c"] = 99
    t0 = timezone.now()
    with freeze_time(t0), django_capture_on_commit_callbacks(execute=True):
        row = toy_row("c")
    for later in (10, 110):
        with freeze_time(t0 + dt.timedelta(seconds=later)):
            assert flush(ToyChannel) == 1
    row.refresh_from_db()
    assert row.attempts == toy.max_attempts() == 3
    assert row.given_up_at == t0 + dt.timedelta(seconds=110) and row.sent_at is None
    assert toy.given_up_texts == ["c"] and toy.sent == []
    with freeze_time(t0 + dt.timedelta(days=30)):
        assert flush(ToyChannel) == 0  # given up is final: no more attempts
    assert list(toy().failed()) == [row]


def test_the_channel_brings_its_beat_entry_which_flushes_what_waits(db, toy) -> None:
    entry = app.conf.beat_schedule["delivery-toy"]
    assert entry["task"] == "delivery.flush" and tuple(entry["args"]) == ("toy",)
    assert entry["schedule"] == ToyChannel.flush_seconds
    # Rows committed while the broker was away: nobody queued them.
    waiting = [ToyRow.objects.create(text=t) for t in ("d", "e")]
    assert app.tasks[entry["task"]].apply(args=entry["args"]).get() == 2
    assert sorted(toy.sent) == ["d", "e"]
    assert all(r.sent_at for r in ToyRow.objects.filter(pk__in=[r.pk for r in waiting]))
    # Every channel of the product has its own entry too (the mail's no longer rides on the sweep).
    assert {"delivery-mail", "delivery-webhook", "delivery-wecom", "delivery-import"} <= set(app.conf.beat_schedule)


# --- the one admin page ------------------------------------------------------------------------


def test_the_admin_page_lists_what_waits_or_failed_on_every_channel(
    db, toy, client, login, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    toy.refusals.update({"retrying": 1, "refused": 99})
    t0 = timezone.now()
    with freeze_time(t0), django_capture_on_commit_callbacks(execute=True):
        toy_row("retrying")
        toy_row("refused")
        toy_row("delivered")
    with freeze_time(t0 + dt.timedelta(seconds=10)):
        flush(ToyChannel)  # "retrying" goes, "refused" is refused again
    with freeze_time(t0 + dt.timedelta(seconds=110)):
        flush(ToyChannel)  # "refused": the last attempt, given up
    ToyRow.objects.create(text="waiting")  # committed, not yet queued
    # A mail waiting too (its worker not reached), on another channel.
    monkeypatch.setattr("delivery.channels.dispatch", lambda *a, **k: 0)
    with django_capture_on_commit_callbacks(execute=True):
        outbox.email_queue(kind="rendered", key="admin-page", to=["x@example.com"], payload={"subject": "s"})

    root = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    login(client, root)
    assert 'href="/admin/delivery/"' in client.get("/admin/").content.decode()  # linked from the admin's home
    page = client.get("/admin/delivery/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "待发送与发送失败" in html and "玩具渠道" in html and "邮件" in html
    assert "等待发送 1 条(其中重试中 0 条),已放弃 1 条" in html  # the toy channel: "waiting"; "refused"
    assert "waiting" in html and "refused" in html and "对方拒收" in html and "已放弃" in html
    assert "delivered" not in html and ">retrying<" not in html  # sent rows are not listed
    assert "admin-page" in html  # the mail, linked to its admin page
    assert f"/admin/notices/outboxemail/{OutboxEmail.objects.get(key='admin-page').pk}/change/" in html


def test_the_admin_page_is_for_staff_and_each_channel_for_who_may_view_its_rows(db, toy, client, login, world) -> None:
    login(client, world.customer_x)
    assert client.get("/admin/delivery/").status_code == 302  # not staff: to the admin's login
    world.supervisor.is_staff = True
    world.supervisor.save()
    login(client, world.supervisor)
    page = client.get("/admin/delivery/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "玩具渠道" not in html and "邮件" not in html and "您没有查看任何发送渠道的权限" in html


# --- a broker that is down or frozen never holds up the writer ----------------------------------


@pytest.fixture
def broker_at() -> Iterator[Any]:
    """`broker_at(url)`: point the app at another broker, eager off, for this test only."""
    keys = ("broker_url", "task_always_eager")
    saved = {k: app.conf[k] for k in keys}

    def point(url: str) -> None:
        app.conf.update(broker_url=url, task_always_eager=False)
        app._pool = None
        app.__dict__.pop("amqp", None)

    try:
        yield point
    finally:
        app.conf.update(saved)
        app._pool = None
        app.__dict__.pop("amqp", None)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again at once: nothing listens there


def _write_and_time(django_capture_on_commit_callbacks: Any, text: str) -> float:
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        toy_row(text)
    return time.monotonic() - started


def test_a_dead_broker_costs_the_writer_no_wait_and_the_flush_sends_the_row_later(
    db, toy, broker_at, settings, django_capture_on_commit_callbacks, caplog
) -> None:
    broker_at(f"redis://127.0.0.1:{_dead_port()}/9")
    elapsed = _write_and_time(django_capture_on_commit_callbacks, "f")
    row = ToyRow.objects.get(text="f")
    assert row.sent_at is None and row.attempts == 0 and toy.sent == []
    assert "toy broker unavailable; 1 row(s) wait for the next flush" in caplog.text
    # Refused at once, not retried: kombu's default retries and the result backend's would take
    # seconds (issue 24 measured 19–20 s); one refused connection takes milliseconds.
    assert elapsed < 2 * settings.DELIVERY_PUBLISH_TIMEOUT, elapsed
    # The broker is back (eager again): the flush sends it, once.
    app.conf.task_always_eager = True
    assert flush(ToyChannel) == 1 and flush(ToyChannel) == 0
    row.refresh_from_db()
    assert toy.sent == ["f"] and row.sent_at is not None and row.attempts == 1


def test_a_frozen_broker_costs_the_writer_one_short_timeout_and_no_retry(
    db, toy, broker_at, settings, django_capture_on_commit_callbacks
) -> None:
    """A broker that accepts the connection and then answers nothing (Redis stopped with SIGSTOP)."""
    frozen = socket.socket()
    frozen.bind(("127.0.0.1", 0))
    frozen.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(frozen.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        broker_at(f"redis://127.0.0.1:{frozen.getsockname()[1]}/9")
        elapsed = _write_and_time(django_capture_on_commit_callbacks, "g")
    finally:
        frozen.close()
        for s in accepted:
            s.close()
    assert ToyRow.objects.get(text="g").sent_at is None and toy.sent == []
    assert len(accepted) == 1  # one connection, given up after its socket timeout: no retry
    # One timeout (connect, then the first read), not a retry loop.
    assert elapsed < 4 * settings.DELIVERY_PUBLISH_TIMEOUT + 1, elapsed


# --- the worker path with a real worker on Redis ------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_toy_rows(toy, real_celery) -> None:  # noqa: F811
    try:
        with transaction.atomic():
            rows = [ToyRow.objects.create(text=t) for t in ("h", "i")]
            deliver(ToyChannel, [r.pk for r in rows])
        deadline = time.monotonic() + 60
        while ToyRow.objects.filter(sent_at__isnull=True).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(toy.sent) == ["h", "i"], "the worker did not send the toy rows within 60 s"
        assert set(ToyRow.objects.values_list("attempts", flat=True)) == {1}
    finally:
        ToyRow.objects.all().delete()  # the toy table is not one the test database's flush knows


# --- the product's channels on the kernel ------------------------------------------------------


def test_a_mail_the_smtp_server_keeps_refusing_is_retried_with_back_off_then_given_up(
    db, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    """On PostgreSQL this also proves the evidence triggers allow each attempt's update."""
    import smtplib

    def refuse(*args: object, **kwargs: object) -> None:
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")

    monkeypatch.setattr("notices.outbox.send_mail", refuse)
    t0 = timezone.now()
    with freeze_time(t0), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.email_queue(
            kind="rendered", key="smtp-down", to=["a@example.com"], payload={"subject": "s", "secret": "b"}
        )
    row = OutboxEmail.objects.get(key="smtp-down")
    assert (row.attempts, row.sent_at) == (1, None) and "SMTPServerDisconnected" in row.last_error
    assert row.next_attempt_at == t0 + dt.timedelta(seconds=outbox.MailChannel.retry_schedule[0])
    waits = []
    while row.given_up_at is None:
        # The mail flush leaves mail younger than two minutes to the worker its commit queued.
        with freeze_time(max(row.next_attempt_at, t0 + outbox.MailChannel.flush_grace + dt.timedelta(seconds=1))):
            assert outbox.outbox_flush() == 1
        previous, row = row, OutboxEmail.objects.get(pk=row.pk)
        assert row.attempts == previous.attempts + 1
        if row.given_up_at is None:
            waits.append(row.next_attempt_at - previous.next_attempt_at)
    assert waits == sorted(waits) and row.attempts == outbox.MailChannel.max_attempts() == 10
    assert row.sent_at is None and mailoutbox == []
    monkeypatch.undo()  # the SMTP server is back: a given-up mail is not sent by itself
    with freeze_time(t0 + dt.timedelta(days=30)):
        assert outbox.outbox_flush() == 0
    assert mailoutbox == []


EMBEDDED_BROKER_PROBE = """
import django, sys
django.setup()
from kombu import Connection
from config.celery import app
from delivery.channels import publish, send_rows
app.conf.broker_url = sys.argv[1]
ok = publish(send_rows, "mail", [7])
with Connection(sys.argv[1]) as conn:
    message = conn.SimpleQueue(app.conf.task_default_queue).get(timeout=5)
    print("RESULT", ok, message.headers["task"], message.headers["argsrepr"])
"""


def test_the_embedded_sqlite_broker_takes_a_publish(tmp_path):
    """`./scripts/run` without REDIS_URL queues on a SQLite file: Redis's client options (timeouts,
    visibility) must not reach it, or every queued mail and the start-up sweep fail."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "ALLOW_INSECURE_DEV_KEY": "true"})
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-c", EMBEDDED_BROKER_PROBE, url],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, result.stderr[-3000:]
    assert line == "RESULT True delivery.send ('mail', [7])"
