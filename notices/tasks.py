from __future__ import annotations

from celery import shared_task

from . import outbox


@shared_task(acks_late=True)
def send_outbox(ids: list[int]) -> int:
    return outbox.outbox_send(ids=ids)


@shared_task(acks_late=True)
def flush_outbox() -> int:
    return outbox.outbox_flush()
