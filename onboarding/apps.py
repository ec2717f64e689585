from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = _("银企直联")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from .models import EVENT_LABELS

        # Company-data events (to be folded into the events vocabulary).
        EVENT_LABELS.update(
            {
                "company_version_adopted": _("采用企业最新资料"),
                "company_change_request_filed": _("提交变更申请"),
                "company_change_request_approved": _("变更申请已批准"),
                "company_change_request_refused": _("变更申请被拒绝"),
            }
        )
