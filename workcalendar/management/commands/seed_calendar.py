from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workcalendar.calendar_seed import seed_from_chinesecalendar


class Command(BaseCommand):
    help = "Add the holidays and adjusted working days that `chinesecalendar` knows and the database lacks."

    def handle(self, *args: Any, **options: Any) -> None:
        added = seed_from_chinesecalendar()
        self.stdout.write(f"calendar days added: {added}")
