from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = _("通知与待发邮件")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import outbox  # noqa: F401  (declares the mail delivery channel)
