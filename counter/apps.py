from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CounterConfig(AppConfig):
    name = "counter"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("柜面双人复核与UKey")

    def ready(self) -> None:
        from onboarding import queue, rules

        from .queue import entries_to_check
        from .rules import counter_problems, operator_identity_problems

        # Leaving UKey issuance also needs the counter's work done (domain.md, stage 5).
        rules.extend_guard("production_ready", counter_problems)
        # One ID number, one name: operators against the company's people, wherever the guard
        # reads company data.
        for guard_name in ("draft_complete", "intake_complete", "production_ready"):
            rules.extend_guard(guard_name, operator_identity_problems)
        # The checker's queue holds the entries others made (issue 10).
        queue.register(entries_to_check)
