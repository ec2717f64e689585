"""`manage.py check --deploy`: settings that are fine on a developer machine but unsafe, or
silently weaker, in production. Django's own deploy checks cover HTTPS, cookies and DEBUG."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def production_settings(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    problems: list[Warning] = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "The database is SQLite: no evidence triggers, one writer at a time.",
                hint="Set DATABASE_URL=postgres://… (the append-only triggers exist on PostgreSQL only).",
                id="onboarding.W001",
            )
        )
    if "locmem" in settings.CACHES["default"]["BACKEND"]:
        problems.append(
            Warning(
                "The cache is per process: failed-login limits and used TOTP codes are not shared between workers.",
                hint="Set REDIS_URL=redis://….",
                id="onboarding.W002",
            )
        )
    if "console" in settings.EMAIL_BACKEND or "locmem" in settings.EMAIL_BACKEND:
        problems.append(
            Warning(
                "E-mail is not sent (console or in-memory backend): reminders and notices go nowhere.",
                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD).",
                id="onboarding.W003",
            )
        )
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        problems.append(
            Warning(
                "SECRET_KEY is the published development key.",
                hint="Set SECRET_KEY to 50+ random characters; never set ALLOW_INSECURE_DEV_KEY in production.",
                id="onboarding.W004",
            )
        )
    return problems
