"""The one mail outbox: queue in the writer's transaction, send from a worker, re-send what is left.

Apps register a renderer per kind (`@renderer("reminder")`) in their `AppConfig.ready()`;
a renderer takes the row and returns (subject, body).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from celery import shared_task
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from .models import OutboxEmail

log = logging.getLogger(__name__)

Renderer = Callable[[OutboxEmail], tuple[str, str]]
_RENDERERS: dict[str, Renderer] = {}
SEND_BATCH = 500
MAX_ATTEMPTS = 10

_suppressed = False


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    def register(func: Renderer) -> Renderer:
        _RENDERERS[kind] = func
        return func

    return register


class suppressed:
    """Seed data replays weeks of history; nobody should be mailed about it."""

    def __enter__(self) -> None:
        global _suppressed
        _suppressed = True

    def __exit__(self, *exc: object) -> None:
        global _suppressed
        _suppressed = False


def is_suppressed() -> bool:
    return _suppressed


@renderer("rendered")
def _render_prerendered(row: OutboxEmail) -> tuple[str, str]:
    """A mail rendered by its writer (allauth's): subject and body travel in the row."""
    return row.payload["subject"], row.payload["secret"]


def email_queue(*, kind: str, key: str, to: Iterable[str], payload: dict[str, Any]) -> OutboxEmail | None:
    """Add one mail to the outbox in the current transaction; sent after commit (or by the flush)."""
    recipients = sorted({address for address in to if address})
    if not recipients or _suppressed:
        return None
    row, created = OutboxEmail.objects.get_or_create(
        key=key, defaults={"kind": kind, "payload": payload, "to": recipients}
    )
    if created:
        transaction.on_commit(lambda: outbox_dispatch(ids=[row.pk]))
    return row


def outbox_dispatch(*, ids: Sequence[int]) -> None:
    """Hand outbox rows to the workers. A broker that is down only delays them: the flush re-queues."""
    if _suppressed:
        return
    for start in range(0, len(ids), SEND_BATCH):
        try:
            send_outbox.delay(list(ids[start : start + SEND_BATCH]))
        except Exception:
            # Kombu raises OperationalError, redis-py ConnectionError/TimeoutError, and the
            # SQLAlchemy transport its own errors; whichever it is, the change is committed
            # and its mail waits in the outbox for `outbox_flush`.
            log.warning("mail broker unavailable; %d outbox row(s) wait for the next flush", len(ids) - start)
            return


def outbox_flush(*, now: dt.datetime | None = None, older_than: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """Re-queue mail left unsent (broker down at commit, a worker lost); sending is idempotent."""
    now = now or timezone.now()
    ids = list(
        OutboxEmail.objects.filter(sent_at__isnull=True, created_at__lt=now - older_than, attempts__lt=MAX_ATTEMPTS)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:5000]
    )
    if ids:
        outbox_dispatch(ids=ids)
    return len(ids)


def outbox_send(*, ids: Sequence[int]) -> int:
    """Send the rows among `ids` that nobody has sent yet; returns how many were sent.

    Each row is locked (SKIP LOCKED: another worker has it), sent, and marked sent in one
    transaction. A worker killed after the SMTP server accepted but before the commit leaves
    the row unsent and the message is sent again (at-least-once in that one window); killed
    anywhere else, the mail is sent exactly once.
    """
    sent = 0
    for pk in ids:
        with transaction.atomic():
            row = OutboxEmail.objects.select_for_update(skip_locked=True).filter(pk=pk, sent_at__isnull=True).first()
            if row is None:
                continue
            render = _RENDERERS.get(row.kind)
            if render is None:
                log.error("outbox row %s: no renderer for kind %r", row.pk, row.kind)
                OutboxEmail.objects.filter(pk=row.pk).update(attempts=MAX_ATTEMPTS)
                continue
            try:
                subject, body = render(row)
                send_mail(subject, body, None, row.to)
            except OSError:
                log.exception("outbox mail %s failed; it stays in the outbox", row.pk)
                OutboxEmail.objects.filter(pk=row.pk).update(attempts=row.attempts + 1)
                continue
            row.sent_at = timezone.now()
            row.attempts += 1
            # A secret (an invitation link's token) is kept only until its mail is out.
            row.payload = {k: v for k, v in row.payload.items() if k != "secret"}
            row.save(update_fields=["sent_at", "attempts", "payload"])
            sent += 1
    return sent


# The tasks live beside the functions they run (notices/tasks.py re-exports them for Celery's
# autodiscovery), so queuing and sending import one way.
@shared_task(acks_late=True, name="notices.tasks.send_outbox")
def send_outbox(ids: list[int]) -> int:
    return outbox_send(ids=ids)


@shared_task(acks_late=True, name="notices.tasks.flush_outbox")
def flush_outbox() -> int:
    return outbox_flush()
