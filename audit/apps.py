from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, directory, receivers  # noqa: F401
        from .admin_trace import audit_admin_changes

        # Every app's admin module is imported by now (django.contrib.admin comes first).
        audit_admin_changes()
