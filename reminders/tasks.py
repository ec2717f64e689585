"""Celery tasks: thin wrappers around the services.

Why a killed worker neither loses nor duplicates a reminder (config/settings.py:
CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST, prefetch 1, CELERY_TASK_TIME_LIMIT,
CELERY_VISIBILITY_TIMEOUT):
- The broker message is acknowledged only after the task returns. If the pool process
  running it dies (killed, out of memory), the worker rejects the message and it is queued
  again at once. If the whole worker dies, the message stays unacknowledged in Redis and
  another worker takes it CELERY_VISIBILITY_TIMEOUT (50 s) after it was delivered
  (tests/test_fault_worker_killed.py kills a real worker mid-task). Beat also sends a new
  sweep every REMINDER_SWEEP_SECONDS. A task longer than CELERY_TASK_TIME_LIMIT (40 s) is
  stopped, so no healthy task outlives the visibility timeout and runs twice at once.
- The sweep's effects (claim row, case event, notices, outbox row) commit in one
  transaction. Killed before the commit: nothing happened, the rerun does it. Killed after
  it: the claim rows exist, the rerun finds nothing new to claim, so nothing is repeated.
- The e-mail is an outbox row (`notices.OutboxEmail`) committed with the claim. The send task locks the row, sends,
  marks it sent and commits; a rerun skips rows marked sent. If the process died between
  the commit and queuing the send task, or the broker was down, the mail channel's flush
  (delivery kernel, beat entry `delivery-mail`) re-queues rows unsent for two minutes. The one remaining window is a kill after the SMTP
  server accepted the message and before the commit: then the mail goes out twice, which
  we prefer to losing it (no SMTP server offers a transaction to join).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from . import services

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def sweep_stalled() -> dict[str, int]:
    result = services.reminders_sweep()
    return {"overdue": result.overdue, "claimed": len(result.claimed), "emails": result.emails}


def broker_description(url: str) -> str:
    if url.startswith("redis"):
        from kombu.utils.url import maybe_sanitize_url

        return f"Redis ({maybe_sanitize_url(url)})"
    if url.startswith("sqla+sqlite"):
        return f"embedded SQLite broker ({url.removeprefix('sqla+sqlite:///')}), no server needed"
    return url.split("://", 1)[0]


@worker_ready.connect
def _say_which_broker(sender: Any = None, **kwargs: Any) -> None:
    from django.conf import settings

    log.warning("reminders: Celery broker is %s", broker_description(settings.CELERY_BROKER_URL))
    log.warning("reminders: beat schedule %s", sorted(getattr(settings, "CELERY_BEAT_SCHEDULE", {})))
