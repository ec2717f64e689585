from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CounterConfig(AppConfig):
    name = "counter"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("柜面双人复核与UKey")

    def ready(self) -> None:
        from branches.roles import Role
        from casetypes.declaration import Feature
        from onboarding import queue, rules

        from . import notifications  # noqa: F401  (its notices' and mail's renderers)
        from .queue import entries_to_check, entries_to_make
        from .rules import counter_problems, operator_identity_problems

        # Leaving UKey issuance also needs the counter's work done (domain.md, stage 5).
        rules.guard_checks.add(counter_problems, key="production_ready")
        # One ID number, one name: operators against the company's people, wherever the guard
        # reads company data.
        for guard_name in ("draft_complete", "intake_complete", "production_ready"):
            rules.guard_checks.add(operator_identity_problems, key=guard_name)
        # The checker's queue holds the entries others made and the completion; the maker's
        # holds the entries still to make, in place of the plain "stage held" line (issue 10).
        queue.sources.add(entries_to_check)
        queue.sources.add(entries_to_make, key=f"{Feature.COUNTER_HOLDS}:{Role.COUNTER_MAKER}")
        queue.kind_labels.add(_("柜面待复核"), key="counter_check")
        queue.kind_labels.add(_("完成UKey发放"), key="counter_complete")
        queue.kind_labels.add(_("柜面录入"), key="counter_make")
