"""Celery tasks of the renewal and dormancy sweeps: thin wrappers (beat entries in config/settings.py).

Both are safe to run at once on several workers: each link is locked before its request opens
and a second sweep finds the first's request (tests/test_links_cert_renewal.py races two on
PostgreSQL)."""

from __future__ import annotations

from celery import shared_task

from . import request_services


@shared_task(acks_late=True)
def renewal_sweep() -> dict[str, int]:
    result = request_services.renewal_sweep()
    return {"opened": len(result.opened), "reminded": result.reminded}


@shared_task(acks_late=True)
def dormant_sweep() -> dict[str, int]:
    result = request_services.dormant_sweep()
    return {"opened": len(result.opened)}
