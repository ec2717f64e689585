from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkcalendarConfig(AppConfig):
    """The working-day calendar and the stage service levels. Imports no other project app."""

    name = "workcalendar"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("工作日历")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from . import workcal
        from .models import CalendarDay

        def forget(**kwargs: object) -> None:
            workcal.forget_days()

        post_save.connect(forget, sender=CalendarDay, dispatch_uid="workcal_forget_saved_day", weak=False)
        post_delete.connect(forget, sender=CalendarDay, dispatch_uid="workcal_forget_deleted_day", weak=False)
        post_migrate.connect(restore_seed, sender=self, dispatch_uid="workcal_restore_seed")


def restore_seed(sender: AppConfig, using: str = "default", apps: Any = None, **kwargs: object) -> None:
    """A database emptied by `flush` gets back what migration 0002 seeded: the official calendar
    and the default service levels, as contenttypes and permissions come back after a flush.

    Django sends `post_migrate` after every migrate and after every flush; only a database with
    neither a calendar day nor a service level is seeded, so days and levels an administrator
    entered or edited are never touched. Without this, a test that ran after a transactional
    test (whose teardown flushes) on the same test process found no holidays and no levels.
    """
    import importlib

    if apps is None:  # a flush sends no `apps`: the models as they are now
        from django.apps import apps
    try:
        day = apps.get_model("workcalendar", "CalendarDay")
        level = apps.get_model("workcalendar", "StageSLA")
    except LookupError:  # migrated back to before the tables existed
        return
    if day.objects.using(using).exists() or level.objects.using(using).exists():
        return
    seeded = importlib.import_module("workcalendar.migrations.0002_seed_sla_and_calendar")
    seeded.seed(apps, None)
