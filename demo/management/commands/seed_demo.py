"""`manage.py seed_demo`: the demo branch tree, staff, companies and cases.

The demo accounts have a published password and TOTP secrets anyone with the source can
compute, so the command runs only where DEBUG=true, or with `--demo` on a database that
holds nobody but demo accounts (a demo deployment); it never adds them to a real database.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.seed import DEMO_PASSWORD, STAFF, seed

DEMO_ENTERPRISE_USER = re.compile(r"^ent\d{2}$")


def is_demo_username(username: str) -> bool:
    return username == "admin" or username in {u for u, *_ in STAFF} or bool(DEMO_ENTERPRISE_USER.match(username))


class Command(BaseCommand):
    help = "Create the demo branch tree, staff, companies and cases (safe to run again). DEBUG=true or --demo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="seed outside DEBUG (a demo deployment); refused if the database holds any non-demo user",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            if not options["demo"]:
                raise CommandError(
                    "seed_demo creates accounts with a published password and known TOTP secrets: "
                    "it runs only with DEBUG=true, or with --demo on a database of demo accounts only"
                )
            others = [u for u in get_user_model().objects.values_list("username", flat=True) if not is_demo_username(u)]
            if others:
                raise CommandError(
                    f"refused: this database holds {len(others)} non-demo user(s) (e.g. {others[0]!r}); "
                    "seed_demo --demo only runs on an empty or demo-only database"
                )
        result = seed()
        self.stdout.write(self.style.SUCCESS(f"demo data ready: {result}; every demo password is {DEMO_PASSWORD}"))
