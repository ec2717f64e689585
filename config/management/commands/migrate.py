"""`migrate`, connected as the tables' owner when MIGRATE_DATABASE_URL names one (config/dbroles.py).

After the migrations it grants the app's role (the user of DATABASE_URL) what it needs on every
table and sequence, and guards `pgtrigger.ignore`, so one command leaves the database ready for
an app that owns nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate
from django.db import connections

from config import dbroles


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        with dbroles.connected_as_owner(connection) as app_role:
            super().handle(*args, **options)
            dbroles.after_migrate(connection, app_role)
