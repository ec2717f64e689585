from __future__ import annotations

from celery import shared_task


@shared_task
def sync_directory() -> dict[str, list[str]]:
    """Beat's `directory-sync`: deactivate whoever the directory has disabled or removed."""
    from .directory import sync_directory as run

    return run()
