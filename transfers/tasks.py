from __future__ import annotations

from celery import shared_task


@shared_task
def exports_expire() -> int:
    """Delete the files of exports older than EXPORT_KEEP_DAYS (transfers.export_jobs.exports_expire)."""
    from .export_jobs import exports_expire as expire

    return expire()
