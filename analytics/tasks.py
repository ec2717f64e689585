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


@shared_task
def cockpit_refresh_scope(scope_id: int, language: str, asked_at: str) -> int:
    """The default figures of one scope in one language, asked for by a page view that found
    them stale or missing (`analytics.refreshes.ask`); skipped when written since the ask."""
    import datetime as dt

    from .snapshots import refresh_scope

    return refresh_scope(scope_id=scope_id, language=language, asked_at=dt.datetime.fromisoformat(asked_at))
