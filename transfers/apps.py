from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransfersConfig(AppConfig):
    name = "transfers"
    verbose_name = _("批量导入导出")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import export_jobs, services  # noqa: F401  (declare the import and export delivery channels, the export's notice)
