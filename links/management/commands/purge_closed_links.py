"""Remove the personal data of closed links past their retention date (dry run by default).

    manage.py purge_closed_links            # lists what would be purged, changes nothing
    manage.py purge_closed_links --apply    # purges; links under legal hold are skipped and logged

What purging means is documented on `links.request_services.links_purge`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from links.request_services import links_purge


class Command(BaseCommand):
    help = "Purge personal data of closed links past retention (dry run unless --apply); legal holds are respected"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--apply", action="store_true", help="really purge (default: dry run)")

    def handle(self, *args: Any, apply: bool = False, **options: Any) -> None:
        lines = links_purge(apply=apply)
        for line in lines:
            self.stdout.write(f"{line.link}\t{line.outcome}\toperators={line.operators}\tukeys={line.ukeys}")
        mode = "applied" if apply else "dry run"
        purged = sum(1 for x in lines if x.outcome in ("purged", "would_purge"))
        held = sum(1 for x in lines if x.outcome == "held")
        self.stdout.write(f"{mode}: {purged} link(s) past retention, {held} under legal hold (skipped)")
