"""The delivery kernel: one way to send anything later (mail, webhooks, WeCom, import chunks).

A channel is one small class, as healthchecks.io writes one `Transport` per kind: the row
model, how one row is sent, and the back-off (`retry_schedule`: seconds to wait after attempt
n fails; one attempt more than the schedule is long, then the row is given up)::

    @register
    class MailChannel(Channel):
        key = "mail"
        label = _("邮件")
        model = OutboxEmail
        retry_schedule = (60, 300, 900)

        def send(self, row, now):
            ...  # raise DeliveryFailed("why") when this attempt failed

The kernel does the rest, the same for every channel:
- the rows are written by the channel's app in the transaction of the change they report, and
  `deliver(channel, ids)` hands them to a worker after commit. Publishing never blocks nor fails
  the request: retries off, short connect and socket timeouts; a broker that is down or frozen
  leaves the rows waiting for the flush (issue 24).
- a worker (`send_rows`) locks each due row (SKIP LOCKED: another worker has it), sends it,
  and records the attempt in the same transaction: sent, or the error with the next attempt's
  time, or given up after the last attempt (`on_give_up` for what the channel does then).
- one beat entry per channel (`delivery-<key>`, every `flush_seconds`) queues what is due: a
  retry whose time has come, or rows a broker that was down or a lost worker left.
- one admin page (`/admin/delivery/`) lists what waits or failed on every channel.

A worker killed after the far side accepted and before the commit sends that row again
(at-least-once in that one window; no SMTP or HTTP server offers a transaction to join).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any, ClassVar

from celery import shared_task
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from casetypes.extensions import ExtensionPoint
from config.cache import redis_down

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """This attempt failed (refused, an error answer, a timeout): counted, retried after the back-off."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Channel:
    """One kind of thing sent later. Subclasses name the row model and how one row is sent."""

    key: ClassVar[str]
    label: ClassVar[Any]
    model: ClassVar[type[models.Model]]
    # Seconds to wait after attempt n fails (n = 1, 2, …); given up when one more attempt fails.
    retry_schedule: ClassVar[tuple[int, ...]] = (60, 300, 1800, 7200)
    # The beat entry: how often the flush runs (a setting may override it).
    flush_seconds: ClassVar[float] = 30.0
    flush_seconds_setting: ClassVar[str] = ""
    # The flush leaves rows younger than this to the worker their commit queued.
    flush_grace: ClassVar[dt.timedelta] = dt.timedelta(0)
    flush_limit: ClassVar[int] = 5000
    batch_size: ClassVar[int] = 500
    # The row's columns (a new row model inherits `delivery.models.DeliveryRow` and keeps these).
    created_field: ClassVar[str] = "created_at"
    next_attempt_field: ClassVar[str] = "next_attempt_at"
    attempts_field: ClassVar[str] = "attempts"
    sent_field: ClassVar[str] = "sent_at"
    given_up_field: ClassVar[str] = "given_up_at"
    error_field: ClassVar[str] = "last_error"
    # Further columns `send` may change on the row, saved with the attempt.
    also_save: ClassVar[tuple[str, ...]] = ()
    # Seconds a send task of this channel may run, when not CELERY_TASK_TIME_LIMIT (a long
    # export): the soft limit, five seconds earlier, is what the channel's send sees.
    time_limit_setting: ClassVar[str] = ""

    # --- what a channel says ---------------------------------------------------------------------

    def send(self, row: Any, now: dt.datetime) -> None:
        """One attempt at one row; raise `DeliveryFailed` if it did not go through."""
        raise NotImplementedError

    def on_give_up(self, row: Any, error: str, now: dt.datetime) -> None:
        """After the last attempt failed (in its transaction): tell someone, switch something off."""

    def describe(self, row: Any) -> str:
        return str(row)

    # --- the rows --------------------------------------------------------------------------------

    @classmethod
    def max_attempts(cls) -> int:
        return len(cls.retry_schedule) + 1

    @classmethod
    def flush_every(cls) -> float:
        if cls.flush_seconds_setting:
            return float(getattr(settings, cls.flush_seconds_setting, cls.flush_seconds))
        return float(cls.flush_seconds)

    def rows(self) -> models.QuerySet[Any]:
        return self.model._default_manager.all()

    def pending(self) -> models.QuerySet[Any]:
        """Neither sent nor given up: waiting for its first attempt or a retry."""
        return self.rows().filter(**{f"{self.sent_field}__isnull": True, f"{self.given_up_field}__isnull": True})

    def failed(self) -> models.QuerySet[Any]:
        return self.rows().filter(**{f"{self.given_up_field}__isnull": False})

    def due(self, now: dt.datetime) -> models.QuerySet[Any]:
        return self.pending().filter(**{f"{self.next_attempt_field}__lte": now})

    def due_ids(self, now: dt.datetime) -> list[Any]:
        """What the flush hands to the workers (by default row keys; `send_ids` takes the same)."""
        due = self.due(now)
        if self.flush_grace:
            due = due.filter(**{f"{self.created_field}__lt": now - self.flush_grace})
        return list(due.order_by(self.next_attempt_field, "pk").values_list("pk", flat=True)[: self.flush_limit])

    # --- sending ---------------------------------------------------------------------------------

    def send_ids(self, ids: Sequence[Any], now: dt.datetime | None = None) -> int:
        """Send the due rows among `ids`, each in its own transaction; returns how many went through."""
        sent = 0
        for pk in ids:
            when = now or timezone.now()
            with transaction.atomic():
                row = self.due(when).select_for_update(skip_locked=True, of=("self",)).filter(pk=pk).first()
                if row is None:
                    continue  # sent, given up, not yet due, or another worker has it
                try:
                    self.send(row, when)
                except DeliveryFailed as exc:
                    self.record_failure([row], exc.error, when)
                    continue
                self.record_sent(row, when)
                sent += 1
        return sent

    def record_sent(self, row: Any, now: dt.datetime) -> None:
        setattr(row, self.sent_field, now)
        setattr(row, self.attempts_field, getattr(row, self.attempts_field) + 1)
        fields = [self.sent_field, self.attempts_field, *self.also_save]
        if self.error_field:
            setattr(row, self.error_field, "")
            fields.append(self.error_field)
        row.save(update_fields=fields)

    def record_failure(self, rows: Iterable[Any], error: str, now: dt.datetime) -> None:
        """Count a failed attempt: retried after the back-off, or given up after the last."""
        for row in rows:
            attempts = getattr(row, self.attempts_field) + 1
            setattr(row, self.attempts_field, attempts)
            setattr(row, self.error_field, error[:300])
            fields = [self.attempts_field, self.error_field, *self.also_save]
            if attempts >= self.max_attempts():
                setattr(row, self.given_up_field, now)
                fields.append(self.given_up_field)
            else:
                setattr(row, self.next_attempt_field, now + dt.timedelta(seconds=self.retry_schedule[attempts - 1]))
                fields.append(self.next_attempt_field)
            row.save(update_fields=fields)
            if attempts >= self.max_attempts():
                log.warning("%s: %s given up after %d attempts: %s", self.key, self.describe(row), attempts, error)
                self.on_give_up(row, error, now)

    def wait(self, ids: Sequence[Any], until: dt.datetime) -> None:
        """Put rows off without counting an attempt (a rate limit's window)."""
        if ids:
            self.rows().filter(pk__in=list(ids)).update(**{self.next_attempt_field: until})


# --- the registry --------------------------------------------------------------------------------

channels: ExtensionPoint[type[Channel]] = ExtensionPoint(
    "delivery.channels",
    "what is sent later: one Channel class per kind (mail, webhooks, WeCom, import chunks), by key",
    unique_keys=True,
)


def register(channel: type[Channel]) -> type[Channel]:
    """Declare a channel (a class decorator, run from its app's `ready()`) and give it its beat entry."""
    channels.add(channel, key=channel.key)
    every = channel.flush_every()
    # The settings' dict is the one Celery's configuration holds: beat reads it after Django's
    # set-up (the worker's and beat's import of the apps), so each channel brings its own entry.
    settings.CELERY_BEAT_SCHEDULE[f"delivery-{channel.key}"] = {
        "task": "delivery.flush",
        "schedule": every,
        "args": (channel.key,),
        # A flush that waited longer than one period in the queue is superseded by the next.
        "options": {"expires": every},
    }
    return channel


def channel_for(key: str) -> Channel:
    found = channels.one(key)
    if found is None:
        raise LookupError(f"no delivery channel {key!r}")
    return found()


# --- handing rows to the workers -----------------------------------------------------------------


def deliver(channel: type[Channel] | Channel, ids: Iterable[Any]) -> None:
    """After the current transaction commits, hand `ids` to a worker. Never blocks, never fails.

    Outside a transaction the rows go at once. If the broker cannot take them (down, frozen,
    refusing), they wait for the channel's flush.
    """
    ids = list(ids)
    if ids:
        transaction.on_commit(partial(dispatch, channel.key, ids))


def dispatch(key: str, ids: Sequence[Any]) -> int:
    """Publish send tasks for `ids` now; returns how many were handed over (0 when the broker is away)."""
    channel = channel_for(key)
    size = channel.batch_size
    limits: dict[str, Any] = {}
    if channel.time_limit_setting:
        limit = int(getattr(settings, channel.time_limit_setting))
        limits = {"time_limit": limit, "soft_time_limit": max(1, limit - 5)}
    for start in range(0, len(ids), size):
        if not publish(send_rows, key, list(ids[start : start + size]), **limits):
            log.warning("%s broker unavailable; %d row(s) wait for the next flush", key, len(ids) - start)
            return start
    return len(ids)


def publish(task: Any, *args: Any, **options: Any) -> bool:
    """Queue `task(*args)` without waiting on a broker that is down or frozen; False if it could not.

    Its own connection with a short connect and socket timeout and no retries (not the app's
    pool, whose connections wait and retry as a worker's should): a web request pays at most
    about DELIVERY_PUBLISH_TIMEOUT seconds for an unreachable broker, never kombu's retry loop,
    and after a failure the process does not try that broker again for
    DELIVERY_BROKER_RETRY_SECONDS (a request that queues several tasks pays the timeout once).
    Every task a web request queues goes through here (analytics/signals.py too).
    """
    from kombu.exceptions import KombuError, OperationalError

    app = task.app
    timeout = float(getattr(settings, "DELIVERY_PUBLISH_TIMEOUT", 0.5))
    broker = str(app.conf.broker_url)
    try:
        if app.conf.task_always_eager:
            task.apply_async(args=args, ignore_result=True, **options)
            return True
        if time.monotonic() < _broker_down_until.get(broker, 0.0) or redis_down(broker):
            # It (or the cache on the same Redis) failed a moment ago: the rows wait for the
            # flush without another timeout.
            log.warning("broker unavailable for %s: skipped for a while after a failure", task.name)
            return False
        # Redis's client takes the timeouts; the embedded SQLite broker (a file, nothing to wait
        # for) takes none: SQLAlchemy's create_engine refuses unknown options.
        bounded = (
            {"max_retries": 0, "socket_timeout": timeout, "socket_connect_timeout": timeout, "retry_on_timeout": False}
            if broker.startswith(("redis://", "rediss://"))
            else {}
        )
        with app.connection_for_write(connect_timeout=timeout, transport_options=bounded) as connection:
            errors = (*connection.connection_errors, *connection.channel_errors)
            try:
                # No result is read: no result backend is touched on the way either (issue 24).
                task.apply_async(args=args, connection=connection, retry=False, ignore_result=True, **options)
            except errors as exc:
                raise OperationalError(str(exc)) from exc
    except (KombuError, OSError) as exc:
        # KombuError covers kombu's OperationalError, which the transports' errors (redis-py's
        # ConnectionError and TimeoutError, SQLAlchemy's) are turned into above.
        log.warning("broker unavailable for %s: %s", task.name, exc)
        if not app.conf.task_always_eager:  # (eager: no broker was asked)
            _broker_down_until[broker] = time.monotonic() + float(getattr(settings, "DELIVERY_BROKER_RETRY_SECONDS", 5))
        return False
    _broker_down_until.pop(broker, None)
    return True


# Per broker URL, in this process: until when `publish` does not try a broker that just failed.
_broker_down_until: dict[str, float] = {}


def flush(channel: type[Channel] | Channel, *, now: dt.datetime | None = None) -> int:
    """Queue whatever of the channel is due (the beat entry's work); returns how many were due."""
    instance = channel() if isinstance(channel, type) else channel
    ids = instance.due_ids(now or timezone.now())
    if ids:
        dispatch(instance.key, ids)
    return len(ids)


# The tasks live beside what they run (delivery/tasks.py re-exports them for Celery's
# autodiscovery), so queuing and sending import one way.
@shared_task(acks_late=True, name="delivery.send")
def send_rows(key: str, ids: list[Any]) -> int:
    return channel_for(key).send_ids(ids)


@shared_task(acks_late=True, name="delivery.flush")
def flush_channel(key: str) -> int:
    return flush(channel_for(key))
