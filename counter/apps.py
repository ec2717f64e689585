from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CounterConfig(AppConfig):
    name = "counter"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("柜面双人复核与UKey")

    def ready(self) -> None:
        from onboarding import rules

        from .rules import counter_problems, operator_identity_problems

        # Leaving UKey issuance also needs the counter's work done (domain.md, stage 5).
        if counter_problems not in rules.EXTRA_CHECKS.get("production_ready", []):
            rules.extend_guard("production_ready", counter_problems)
        # One ID number, one name: operators against the company's people, wherever the guard
        # reads company data.
        for guard_name in ("draft_complete", "intake_complete", "production_ready"):
            if operator_identity_problems not in rules.EXTRA_CHECKS.get(guard_name, []):
                rules.extend_guard(guard_name, operator_identity_problems)
        from django.utils.translation import gettext_lazy as _

        from onboarding.models import EVENT_LABELS

        EVENT_LABELS.update(
            {
                "operator_added": _("登记企业操作员"),
                "operator_removed": _("删除企业操作员"),
                "counter_entry_made": _("柜面经办录入"),
                "counter_entry_confirmed": _("柜面复核确认"),
                "counter_entry_cancelled": _("柜面经办取消录入"),
                "ukey_replacement_made": _("录入UKey补办"),
                "ukey_downloaded": _("登记证书已下载"),
                "ukey_lost": _("UKey挂失"),
                "ukey_released": _("UKey解挂"),
                "ukey_revoked": _("UKey注销"),
                "retest_requested": _("要求重测"),
            }
        )
