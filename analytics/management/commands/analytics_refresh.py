from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics.facts import facts_rebuild
from analytics.forecast import forecasts_refresh_all


class Command(BaseCommand):
    help = "Rebuild the visit facts from the stage visits and events, refit the forecast, re-forecast open cases."

    def handle(self, *args: Any, **options: Any) -> None:
        facts = facts_rebuild()
        forecasts = forecasts_refresh_all()
        self.stdout.write(self.style.SUCCESS(f"visit facts: {facts}; open cases forecast: {forecasts}"))
