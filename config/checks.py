"""`manage.py check --deploy`: the app's PostgreSQL role must not be able to switch the evidence
triggers off (config/dbroles.py). It asks the database; a database that does not answer is
`/readyz`'s to report, not this check's."""

from __future__ import annotations

from typing import Any

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connection

from . import dbroles

HINT = (
    "Connect the app as a role that owns nothing (DATABASE_URL) and migrate as the owner "
    "(MIGRATE_DATABASE_URL): README, 'Running it for real'."
)


@register(Tags.security, deploy=True)
def database_role(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if connection.vendor != "postgresql":
        return []  # SQLite: onboarding.W001
    try:
        with connection.cursor() as cursor:
            role, superuser, owned = dbroles.role_problems(cursor)
    except DatabaseError:
        return []
    if superuser:
        return [
            Warning(
                f"The app connects to PostgreSQL as the superuser {role!r}: it can switch every evidence "
                "trigger off (session_replication_role, ALTER TABLE … DISABLE TRIGGER).",
                hint=HINT,
                id="onboarding.W010",
            )
        ]
    if owned:
        return [
            Warning(
                f"The app's PostgreSQL role {role!r} owns (or may act as the owner of) {len(owned)} protected "
                f"table(s), {', '.join(owned[:5])}{' …' if len(owned) > 5 else ''}: it can disable or drop "
                "their evidence triggers.",
                hint=HINT,
                id="onboarding.W011",
            )
        ]
    return []
