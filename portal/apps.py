from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers this app's outbox mail renderer(s).
        from . import services, tasks  # noqa: F401  (and the message notice's renderer)
