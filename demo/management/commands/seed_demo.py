from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from demo.seed import DEMO_PASSWORD, seed


class Command(BaseCommand):
    help = "Create the demo branch tree, staff, companies and cases (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed()
        self.stdout.write(self.style.SUCCESS(f"demo data ready: {result}; every demo password is {DEMO_PASSWORD}"))
