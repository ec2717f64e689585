"""Django's PostgreSQL backend, with the connection health check skipped right after a good request.

With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of every request, so a
connection broken since it was last used (a database restart, a dropped TCP connection) is
replaced instead of failing the request. That is one more round trip per request, most of it
for connections used a few milliseconds before. Here the check is skipped when the same
connection finished a request without a database error less than DB_HEALTH_CHECK_IDLE_SECONDS
ago (0: check before every request, as Django does). A connection that broke within that
window fails one request; Django then closes it at the end of that request (its error marks
it), and the next request gets a new one.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base, operations
from django.db.backends.postgresql.psycopg_any import register_tzloader


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: Any, params: Any) -> Any:
        # A statement run by name carries no text of its own: the text with its values, as
        # Django gives it for parameters sent apart (logged queries, query counts in tests).
        if isinstance(cursor, PreparingCursor):
            try:
                return self.compose_sql(sql, params)
            except psycopg.errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _good_until = 0.0

    def close_if_health_check_failed(self) -> None:
        if self.connection is not None and time.monotonic() < self._good_until:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self) -> None:
        # Called as a request starts and as it ends. health_check_done is true only when this
        # request used the connection (checked it, skipped the check, or connected): then, at
        # the end, a request without a database error opens the window; one with an error shuts it.
        used = self.connection is not None and self.health_check_done
        clean = not self.errors_occurred
        super().close_if_unusable_or_obsolete()
        if self.connection is None or not clean:
            self._good_until = 0.0
        elif used:
            self._good_until = time.monotonic() + settings.DB_HEALTH_CHECK_IDLE_SECONDS

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if params.get("cursor_factory") is base.ServerBindingCursor:
            params["cursor_factory"] = ServerBindingCursor
        if settings.DB_PREPARED_READS and params.get("prepare_threshold") is None:
            # psycopg prepares nothing while the threshold is None, not even what asks to be
            # prepared; with a threshold no statement reaches, only `prepared_cursor`'s are (the
            # default cursor, psycopg's ClientCursor, never prepares).
            params["prepare_threshold"] = NEVER
        return params

    def prepared_cursor(self) -> Any:
        """A cursor whose statements are prepared on this connection at their first execution and
        run by name afterwards (PostgreSQL plans each once per connection), wrapped as
        `cursor()`'s are (execute wrappers, logged queries): for the reads written once per
        process (`config.statements.read_cursor`)."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = PreparingCursor(self.connection)  # type: ignore[call-arg]
            tzloader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)
            if self.timezone != tzloader.timezone:  # type: ignore[union-attr]
                register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)  # type: ignore[attr-defined]


# A prepare threshold no statement reaches (psycopg counts each statement's sends).
NEVER = 2**31 - 1


class PreparingCursor(base.ServerBindingCursor):
    """Parameters sent apart and the statement prepared at its first execution (psycopg names it
    and runs it by name afterwards, on this connection). Only for single statements."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        kwargs["prepare"] = True
        return super().execute(query, params, **kwargs)  # type: ignore[misc]


class ServerBindingCursor(base.ServerBindingCursor):
    """With DB_SERVER_SIDE_BINDING: parameters sent apart from the statement, except for several
    statements in one string with parameters (`pgtrigger.ignore` puts `SELECT set_config(…, %s,
    true);` before each statement), which the extended protocol refuses ("cannot insert multiple
    commands into a prepared statement"): those are bound here, as psycopg's ClientCursor does."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if params and isinstance(query, str) and ";" in query.rstrip().rstrip(";"):
            client = psycopg.ClientCursor(self.connection)  # type: ignore[attr-defined]
            query, params = client.mogrify(query, params), None
        return super().execute(query, params, **kwargs)  # type: ignore[misc]
