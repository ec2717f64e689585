from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def send_deliveries(ids: list[int]) -> int:
    return sum(services.delivery_send(pk=pk) for pk in ids)


@shared_task(acks_late=True)
def flush_deliveries() -> int:
    return services.deliveries_flush()
