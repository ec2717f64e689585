from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics.backtest import backtest
from analytics.facts import facts_rebuild
from analytics.selectors import stage_label
from analytics.sources import WORKING_STAGES


class Command(BaseCommand):
    help = "Replay history: share of live cases that went live by the P85 forecast made at each stage entry."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-refresh", action="store_true", help="use the stored visit facts as they are")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_refresh"]:
            facts_rebuild()
        r = backtest()
        if not r.forecasts:
            self.stdout.write("no case went live after enough history: nothing to replay")
            return
        self.stdout.write(f"forecasts replayed: {r.forecasts}")
        self.stdout.write(f"P85 coverage: {100 * (r.coverage or 0):.1f} % (should be near 85 %)")
        self.stdout.write(f"median |P50 error|: {r.median_error:.1f} working days")
        for stage in WORKING_STAGES:
            if stage in r.per_stage:
                n, ok = r.per_stage[stage]
                self.stdout.write(
                    f"  at entry of {stage:<24} {stage_label(stage)}: {n:5d} forecasts, {100 * ok / n:5.1f} % covered"
                )
