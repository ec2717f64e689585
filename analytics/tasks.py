from __future__ import annotations

from celery import shared_task


@shared_task
def analytics_nightly() -> int:
    """Refresh open visits, refit the forecast model, re-forecast every open case."""
    from .forecast import forecasts_refresh_all

    return forecasts_refresh_all()
