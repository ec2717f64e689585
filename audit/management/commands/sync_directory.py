"""Deactivate every account the bank's directory has disabled or removed (issue 23).

On beat as `directory-sync` (DIRECTORY_SYNC_SECONDS) when DIRECTORY_URL is set. Exits with an
error, deactivating nobody, when the directory cannot be read.
"""

from __future__ import annotations

from typing import Any

import ldap
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.directory import sync_directory


class Command(BaseCommand):
    help = "Deactivate the accounts that the directory (LDAP / AD) has disabled or removed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list them, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DIRECTORY_ENABLED:
            raise CommandError("directory sign-in is off (DIRECTORY_URL is not set)")
        try:
            result = sync_directory(dry_run=options["dry_run"])
        except ldap.LDAPError as exc:
            raise CommandError(f"the directory did not answer, nobody was deactivated: {exc}") from exc
        verb = "would deactivate" if options["dry_run"] else "deactivated"
        self.stdout.write(
            f"checked {len(result['checked'])}; {verb} {len(result['disabled'])} disabled in the directory"
            f" ({', '.join(result['disabled']) or '-'}) and {len(result['missing'])} no longer in it"
            f" ({', '.join(result['missing']) or '-'})"
        )
