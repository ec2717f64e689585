"""The logged-in user, read from Redis instead of the database while their row is unchanged.

Every request needs its user: Django's AuthenticationMiddleware reads the row, and every page
then reads the user's roles and home branch (`USER_CACHE_PREPARE`): three queries, about 2 ms
of a worker's CPU per request (README, "The page cache"). Here a copy is kept in Redis with the
**generation** of each table it was read from (`TABLES`): a token per table that every
committed write to that table replaces. A copy is used only while each table still has the
generation it was read at, so a deactivation, a new password or a role taken away applies on the
next request. The generations are read *before* the row, so a copy stored by a request that
raced a deactivation is stale the moment it is stored.

**How writes are seen.** Every database connection gets an execute wrapper that recognises
INSERT, UPDATE, DELETE, TRUNCATE and data-modifying WITH statements, whichever code sends them
(the services, `queryset.update()`, the admin, a management command, a worker on another host),
and the tables they write. A write to one of `TABLES` replaces its generation right after the
statement outside a transaction, or when the transaction commits; a rolled-back transaction
changed nothing. A write whose tables cannot be told (TRUNCATE, anything unusual) replaces them
all. A login's `last_login` update replaces nothing (nothing here checks it). Reads cost the
wrapper a look at the statement's first word.

A copy is only used when everything Django checks still holds: the session names this user and
an allowed backend, the user is active, and the session's hash matches the password hash.
Anything else (no copy, another generation, a mismatch, Redis not answering, the current
connection holding uncommitted writes to `TABLES`) goes through `django.contrib.auth.get_user`,
which reads the row, verifies and, where the hash does not match, ends the session. A copy lives
at most USER_CACHE_SECONDS, the bound for a change made behind Django's back (SQL typed into
psql). While Redis does not answer, users are read from the database; writes made meanwhile
make every copy stale when it answers again.

Several processes and hosts share the generations through Redis. Without Redis (the SQLite demo)
the copy is off unless USER_CACHE is set, and then it is process-local: right for one process
(the test suite), wrong for several.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.core.cache import caches
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

from . import cache as shared_cache

logger = logging.getLogger("config.usercache")

ALIAS = "users"
# A copy is valid while none of these changed: the row, and what `USER_CACHE_PREPARE` reads onto
# it before it is stored (branches.roles.user_prepare: the user's groups, home branch or company
# and permissions, their own and their groups').
TABLES = (
    "accounts_user",
    "accounts_user_groups",
    "auth_group",
    "branches_branch",
    "onboarding_enterprise",
    "accounts_user_user_permissions",
    "auth_group_permissions",
    "auth_permission",
)
_WATCHED = frozenset(TABLES)
_WRITE_START = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "WITH", "REPLACE", "MERGE")
_WRITTEN = re.compile(r'\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+"?(\w+)"?', re.I)
# A login's only write to the user row (`django.contrib.auth.models.update_last_login`:
# `save(update_fields=["last_login"])`), exactly as Django sends it: nothing here checks
# `last_login`, so it replaces no generation. Any other column in the same statement is a write.
_LAST_LOGIN_ONLY = re.compile(r'UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"\."id" = %s', re.I)
RETRY_SECONDS = 30.0
_down_until = 0.0
_missed_writes = False  # a write committed while Redis did not answer (see `bump`)
_lock = threading.Lock()


def _location() -> str:
    return str(settings.CACHES.get(ALIAS, {}).get("LOCATION", ""))


def enabled() -> bool:
    if not settings.USER_CACHE or time.monotonic() < _down_until or shared_cache.redis_down(_location()):
        return False
    if _missed_writes:
        _catch_up()
    return True


def _catch_up() -> None:
    """Writes committed while Redis did not answer replaced no generation: every copy is stale."""
    global _missed_writes
    _missed_writes = False
    bump(None)


def cache() -> Any:
    return caches[ALIAS]


def failed(exc: Exception) -> None:
    """Redis did not answer: users are read from the database for a while."""
    global _down_until
    if time.monotonic() >= _down_until:
        logger.warning(
            "user cache: Redis does not answer (%s); users are read from the database, retrying in %ds",
            exc,
            RETRY_SECONDS,
        )
    _down_until = time.monotonic() + RETRY_SECONDS
    if _location().startswith(("redis://", "rediss://", "unix://")):
        shared_cache.mark_down(_location())  # the other clients of this Redis skip it too


def gen_key(table: str) -> str:
    # Per database: two databases behind one Redis never share generations or users.
    return f"gen:{settings.DATABASES['default']['NAME']}:{table}"


# --- writes --------------------------------------------------------------------------------


def written_tables(sql: str) -> frozenset[str] | None:
    """The tables `sql` writes: empty for a read, None for a write whose tables are unknown."""
    head = sql.lstrip()[:8].upper()
    if not head.startswith(_WRITE_START):
        return frozenset()
    if head.startswith("TRUNCATE"):
        return None
    if head.startswith("WITH"):
        return _with_tables(sql)  # no INSERT/UPDATE/DELETE in it: a read
    if _LAST_LOGIN_ONLY.fullmatch(sql.strip()):
        return frozenset()
    tables = frozenset(t.lower() for t in _WRITTEN.findall(sql))
    return tables if tables else None


@functools.lru_cache(maxsize=256)
def _with_tables(sql: str) -> frozenset[str]:
    """The tables a statement starting with `WITH` writes, looked for once per statement text:
    the dashboards' reads are such statements of 2,000–3,000 characters, written the same on
    every request, and the search took 0.05–0.1 ms of CPU each."""
    return frozenset(t.lower() for t in _WRITTEN.findall(sql))


def bump(tables: Iterable[str] | None = None) -> None:
    """`tables` changed (None: any of `TABLES` may have): every copy read before is stale."""
    if not settings.USER_CACHE:
        return
    global _missed_writes
    names = list(TABLES) if tables is None else [t for t in tables if t in _WATCHED]
    if not names:
        return
    if not enabled():
        # Redis does not answer: the write is not held up by a timeout, and when Redis answers
        # again every copy stored before is made stale (`_catch_up`); until then none is used.
        _missed_writes = True
        return
    token = uuid.uuid4().hex
    try:
        cache().set_many({gen_key(t): token for t in names}, None)
    except Exception as exc:  # a cache outage must not fail the write that committed
        failed(exc)
        _missed_writes = True


class _OnCommit:
    """The watched tables a transaction wrote, replaced when it commits."""

    def __init__(self) -> None:
        self.tables: set[str] | None = set()

    def add(self, tables: frozenset[str] | None) -> None:
        if tables is None or self.tables is None:
            self.tables = None
        else:
            self.tables |= tables

    def __call__(self) -> None:
        bump(self.tables)


def _pending(connection: BaseDatabaseWrapper) -> _OnCommit | None:
    for entry in connection.run_on_commit:  # (savepoint ids, func, robust)
        if isinstance(entry[1], _OnCommit):
            return entry[1]
    return None


def _watch(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    if not isinstance(sql, str):
        return execute(sql, params, many, context)
    tables = written_tables(sql)
    if tables is not None:
        tables &= _WATCHED
        if not tables:
            return execute(sql, params, many, context)
    connection = context["connection"]
    result = execute(sql, params, many, context)
    if connection.in_atomic_block:
        pending = _pending(connection)
        if pending is None:
            pending = _OnCommit()
            transaction.on_commit(pending, using=connection.alias)
        pending.add(tables)
    else:
        bump(tables)
    return result


def watch_writes(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created` receiver: see every statement this connection sends."""
    if _watch not in connection.execute_wrappers:
        connection.execute_wrappers.append(_watch)


def uncommitted_writes() -> bool:
    """The current connections hold writes to `TABLES` not yet committed."""
    return any(_pending(conn) is not None for conn in connections.all(initialized_only=True) if conn.in_atomic_block)


def generations(tables: Iterable[str]) -> dict[str, str]:
    """The current generation of each table; a table without one (never written since Redis
    started) is given one now, so no later write can bring back an old value."""
    keys = [gen_key(t) for t in tables]
    found = cache().get_many(keys)
    missing = [k for k in keys if k not in found]
    if missing:
        token = uuid.uuid4().hex
        for key in missing:
            cache().add(key, token, None)
        found.update(cache().get_many(missing))
    return found


T = TypeVar("T")


def kept(name: str, tables: Iterable[str], read: Callable[[], T]) -> T:
    """`read()`, kept in Redis while each of `tables` (some of `TABLES`) keeps its generation.

    For what pages derive from the branches and the people alone (the case list's filter
    options: the subtree's branches and account managers, two queries on every request) and
    that changes when they do. The rules are the user's copy's: the generations are read before
    `read()` runs, so a value read while a write committed is stale the moment it is stored; a
    copy lives at most USER_CACHE_SECONDS; without the copy (switched off, Redis not answering,
    uncommitted writes to `TABLES` on this connection) `read()` runs every time. `name` says
    what is kept and for whom (the same name, the same value for every reader)."""
    names = list(tables)
    if not set(names) <= _WATCHED:
        raise ValueError(f"kept values are checked against {TABLES} only, not {names}")
    if not enabled() or uncommitted_writes():
        return read()
    key, gen_keys = f"kept:{settings.DATABASES['default']['NAME']}:{name}", [gen_key(t) for t in names]
    try:
        found = cache().get_many([key, *gen_keys])
        entry = found.get(key)
        gens = [found.get(k) for k in gen_keys]
        if entry is not None and None not in gens and entry[0] == gens:
            return entry[1]  # type: ignore[no-any-return]
        before = gens if None not in gens else [generations(names)[k] for k in gen_keys]
    except Exception as exc:  # an outage means reading the database, not failing
        failed(exc)
        return read()
    value = read()
    if not uncommitted_writes():
        try:
            cache().set(key, (before, value), settings.USER_CACHE_SECONDS)
        except Exception as exc:
            failed(exc)
    return value


# --- the user ------------------------------------------------------------------------------


def _key(user_id: Any) -> str:
    return f"user:{settings.DATABASES['default']['NAME']}:{user_id}"


def session_user(request: HttpRequest) -> Any:
    """`django.contrib.auth.get_user(request)`, answered from Redis while the row is unchanged."""
    if not enabled() or uncommitted_writes():
        return auth.get_user(request)
    try:
        user_id = auth._get_user_session_key(request)  # type: ignore[attr-defined]
        backend = request.session[auth.BACKEND_SESSION_KEY]
    except KeyError:
        return auth.get_user(request)
    session_hash = request.session.get(auth.HASH_SESSION_KEY)
    if backend not in settings.AUTHENTICATION_BACKENDS or not session_hash:
        return auth.get_user(request)
    if not enabled():  # reading the session just now found Redis not answering
        return auth.get_user(request)
    key, gen_keys = _key(user_id), [gen_key(t) for t in TABLES]
    try:
        found = cache().get_many([key, *gen_keys])
        entry = found.get(key)
        gens = [found.get(k) for k in gen_keys]
        if entry is not None and None not in gens and entry[0] == gens:
            user = entry[1]
            if user.is_active and constant_time_compare(session_hash, user.get_session_auth_hash()):
                return user
        before = gens if None not in gens else [generations(TABLES)[k] for k in gen_keys]
    except Exception as exc:  # an outage means reading the row, not failing
        failed(exc)
        return auth.get_user(request)
    user = auth.get_user(request)
    if getattr(user, "is_authenticated", False) and not uncommitted_writes():
        if settings.USER_CACHE_PREPARE:
            import_string(settings.USER_CACHE_PREPARE)(user)
        try:
            cache().set(key, (before, user), settings.USER_CACHE_SECONDS)
        except Exception as exc:
            failed(exc)
    return user


def _user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        request._cached_user = session_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class CachedUserAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware with `request.user` from `session_user`."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user(request))  # type: ignore[assignment]
