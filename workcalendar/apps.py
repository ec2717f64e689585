from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkcalendarConfig(AppConfig):
    """The working-day calendar and the stage service levels. Imports no other project app."""

    name = "workcalendar"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("工作日历")
