from __future__ import annotations

from celery import shared_task


@shared_task
def periodic_reviews() -> int:
    """Open the periodic reviews that fell due (links.changes.periodic_reviews_open)."""
    from .changes import periodic_reviews_open

    return len(periodic_reviews_open())
