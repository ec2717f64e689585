"""Celery runs a large import here, one chunk of rows per task (see `services` for why chunks)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, name="transfers.tasks.import_chunk")
def import_chunk(job_id: int) -> None:
    services.import_chunk_continue(job_id)


@shared_task(acks_late=True, name="transfers.tasks.check_chunk")
def check_chunk(job_id: int) -> None:
    services.check_chunk_continue(job_id)
