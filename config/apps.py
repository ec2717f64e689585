from __future__ import annotations

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project's own machinery that every app relies on (no models)."""

    name = "config"
    label = "project"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import checks, usercache  # noqa: F401 (checks registers the deploy check)

        connection_created.connect(usercache.watch_writes, dispatch_uid="usercache.watch_writes")
