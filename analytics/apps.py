from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("管理驾驶舱")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from onboarding.page_reads import page_relations

        from . import signals  # noqa: F401

        page_relations.add("forecast")  # the case page's forecast panel
