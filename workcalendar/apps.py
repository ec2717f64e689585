from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkcalendarConfig(AppConfig):
    """The working-day calendar and the stage service levels. Imports no other project app."""

    name = "workcalendar"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("工作日历")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import workcal
        from .models import CalendarDay

        def forget(**kwargs: object) -> None:
            workcal.forget_days()

        post_save.connect(forget, sender=CalendarDay, dispatch_uid="workcal_forget_saved_day", weak=False)
        post_delete.connect(forget, sender=CalendarDay, dispatch_uid="workcal_forget_deleted_day", weak=False)
