from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WecomConfig(AppConfig):
    name = "wecom"
    verbose_name = _("企业微信与每日摘要")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notices.channels import listeners

        from . import digest  # noqa: F401  (registers the digest mail's renderer)
        from .services import messages_queue  # also declares the WeCom delivery channel

        listeners.add(messages_queue)
