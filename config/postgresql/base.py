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

import datetime
import functools
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base, operations
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import adapt
from psycopg._tz import get_tzinfo


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
        if params.get("context") is not None and settings.USE_TZ and self.timezone is datetime.UTC:
            params["context"] = _utc_adapters(params["context"])
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


# --- timestamps read by psycopg's C loader ----------------------------------------------------
# Django reads every `timestamptz` with its own loader (`BaseTzLoader`): a subclass of psycopg's
# pure-Python `TimestamptzLoader` that parses the text in Python and then replaces the tzinfo
# with the connection's (UTC): ~3.5-5.5 µs a value, where psycopg's C loader takes ~0.3 µs. A
# case page reads about 250 timestamps, a dashboard or list about as many: ~1 ms of CPU a page.
# The C loader gives the same datetimes when the connection's time zone is UTC (Django sets it
# so as a connection opens: `ensure_timezone`): the instant in UTC, `tzinfo` the very
# `datetime.timezone.utc` Django's gives. It cannot be subclassed, so a loader that says which
# time zone it reads (Django's cursors check `timezone`) hands each value to it.
_FAST_TZ_LOADER: Any = psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT)


class UtcTimestamptzLoader(adapt.Loader):
    """A `timestamptz` as an aware datetime in UTC: psycopg's C loader's answer when the
    connection's time zone is UTC (as Django sets it), converted to UTC otherwise (where
    Django's loader would keep the local clock reading and call it UTC)."""

    timezone = datetime.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        pgconn = self.connection.pgconn if self.connection is not None else None
        if get_tzinfo(pgconn) is datetime.UTC:
            self.load = _FAST_TZ_LOADER(oid, context).load  # type: ignore[method-assign]
        else:  # a session that set another time zone: the same instant, in UTC
            load = _FAST_TZ_LOADER(oid, context).load
            self.load = lambda data: load(data).astimezone(datetime.UTC)  # type: ignore[method-assign]

    def load(self, data: Any) -> Any:  # replaced on each instance (above)
        raise NotImplementedError


@functools.cache
def _utc_adapters(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    """Django's adapters (its template, one per time zone) with the fast UTC loader, made once."""
    if _FAST_TZ_LOADER.__module__.startswith("psycopg.types"):
        return template  # psycopg without its C extension: nothing faster to hand the values to
    adapters = adapt.AdaptersMap(template)
    adapters.register_loader("timestamptz", UtcTimestamptzLoader)
    return adapters


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
