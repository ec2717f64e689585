from __future__ import annotations

from celery import shared_task


@shared_task
def analytics_nightly() -> int:
    """Refresh open visits, refit the forecast model, re-forecast every open case."""
    from .forecast import forecasts_refresh_all

    return forecasts_refresh_all()


@shared_task
def cockpit_refresh() -> int:
    """Precompute the cockpit's default figures of every scope (Celery beat)."""
    from .snapshots import refresh

    return refresh()


@shared_task
def cockpit_refresh_dirty() -> int:
    """Recompute the scopes a case changed in since their last refresh (debounced, see signals)."""
    from .snapshots import refresh_dirty

    return refresh_dirty()
