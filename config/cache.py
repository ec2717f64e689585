"""The default cache: Redis, falling back to a database table while Redis does not answer.

What lives in the cache is security state, not a speed-up: allauth's failed-login counters
and the single-use marks of TOTP codes. When Redis is down, dropping that state would either
500 every login (what allauth does on a connection error) or silently switch the limits off.
So every call that fails with a Redis error is repeated on `audit.CacheFallbackEntry`
(Django's database cache), the switch is logged once as a warning, and Redis is tried again
after RETRY_SECONDS; when it answers again that is logged too.

The failed-login counters and the used-TOTP-code marks (DATABASE_ONLY) never go to Redis: they
live in the database table whether Redis answers or not. Each worker notices on its own that
Redis is back, so counters that followed Redis would be split between the two stores for up to
RETRY_SECONDS (three wrong passwords in one, three in the other: none reaches the limit).
They are few (one row per account and address that failed lately) and must be exact.

Short socket timeouts (settings.REDIS_CLIENT_OPTIONS) keep a frozen Redis (stopped, failing over,
cut off: it answers nothing at all) from holding each request, and the first timeout marks that
Redis down for every client of the process (`redis_down`): one request pays it once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger("config.cache")

FALLBACK_TABLE = "audit_cachefallbackentry"
RETRY_SECONDS = 30.0
DEFAULT_OPTIONS = {"socket_connect_timeout": 0.3, "socket_timeout": 0.5}  # settings.REDIS_CLIENT_OPTIONS
# Key prefixes kept in the database table only (allauth's failed-login histories and their
# locks, allauth's used-TOTP-code marks): one store, whichever way Redis goes.
DATABASE_ONLY = ("allauth:rl:allauth.account:login_failed:", "allauth.mfa.totp.used?")
_SINGLE_KEY = frozenset({"add", "get", "set", "touch", "delete", "has_key", "incr"})

# Shared by every thread's cache instance of this process, per Redis location.
_down_until: dict[str, float] = {}
_lock = threading.Lock()


def redis_down(location: str) -> bool:
    """A client of this process found the Redis at `location` not answering a moment ago.

    Shared by every client of one Redis (the default and session caches, the user cache, the
    delivery kernel's publish): the first timeout of a request trips them all, so a request
    pays one short timeout at most, not one per client.
    """
    return time.monotonic() < _down_until.get(location, 0.0)


def mark_down(location: str) -> None:
    with _lock:
        _down_until[location] = time.monotonic() + RETRY_SECONDS


class _ReusedClient(RedisCacheClient):
    """Django's Redis cache client, keeping its `redis.Redis` object per connection pool.

    Django builds a new `redis.Redis` for every call (some 170 response callbacks set up each
    time, about a tenth of a millisecond); the object only wraps the pool, so one is kept.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class _RedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusedClient


class _DatabaseCache(DatabaseCache):
    """Django's database cache, never culling an entry that has not expired.

    Django deletes a third of the rows, live or not, once there are more than MAX_ENTRIES (300):
    someone trying passwords on many accounts would wipe the counters that limit them.
    """

    _table: str  # set by Django's __init__ (not in the stubs)

    def _cull(self, db: str, cursor: Any, now: Any, num: int) -> None:
        from django.db import connections

        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        cursor.execute(
            f"DELETE FROM {table} WHERE {connection.ops.quote_name('expires')} < %s",  # noqa: S608 (names quoted, from settings)
            [connection.ops.adapt_datetimefield_value(now)],
        )


class ResilientRedisCache(BaseCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._location = server
        redis_params = {**params, "OPTIONS": {**DEFAULT_OPTIONS, **params.get("OPTIONS", {})}}
        self._redis = _RedisCache(server, redis_params)
        self._fallback: BaseCache = _DatabaseCache(FALLBACK_TABLE, {k: v for k, v in params.items() if k != "OPTIONS"})

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method in _SINGLE_KEY and isinstance(args[0], str) and args[0].startswith(DATABASE_ONLY):
            return getattr(self._fallback, method)(*args, **kwargs)
        if time.monotonic() >= _down_until.get(self._location, 0.0):
            try:
                result = getattr(self._redis, method)(*args, **kwargs)
            except RedisError as exc:
                with _lock:
                    was_up = self._location not in _down_until
                    _down_until[self._location] = time.monotonic() + RETRY_SECONDS
                if was_up:
                    logger.warning(
                        "cache: Redis at %s does not answer (%s); using the database fallback, retrying every %ds",
                        self._location,
                        exc,
                        RETRY_SECONDS,
                    )
            else:
                with _lock:
                    came_back = _down_until.pop(self._location, None) is not None
                if came_back:
                    logger.warning("cache: Redis at %s answers again; back from the database fallback", self._location)
                return result
        return getattr(self._fallback, method)(*args, **kwargs)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call("add", key, value, timeout, version=version)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call("get", key, default, version=version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._call("set", key, value, timeout, version=version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call("touch", key, timeout, version=version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._call("delete", key, version=version)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._call("get_many", keys, version=version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._call("has_key", key, version=version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._call("incr", key, delta, version=version)

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        return self._call("set_many", data, timeout, version=version)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._call("delete_many", keys, version=version)

    def clear(self) -> None:
        self._call("clear")

    def close(self, **kwargs: Any) -> None:
        self._redis.close(**kwargs)
        self._fallback.close(**kwargs)


class SessionRedisCache(ResilientRedisCache):
    """The session cache (`cached_db`): Redis, and nothing at all while Redis does not answer.

    A session lives in the database; the cache only spares the session query. While Redis is
    down a read is a miss (the session is read from its row, as with the `db` engine) and a
    write or a delete does nothing, instead of a round of queries on the fallback table.

    A copy is kept at most SESSION_CACHE_SECONDS, whatever the session's expiry: a delete
    that did not reach Redis (a logout during an outage) leaves a copy that may answer again
    when Redis comes back, and only that long. Ending a session in the database also deletes
    the copy (`SessionStore.delete`), and a disabled user is refused on their user row, which
    is read on every request whatever the cache holds.
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._fallback = DummyCache("", {})

    def _capped(self, timeout: Any) -> Any:
        from django.conf import settings

        cap = settings.SESSION_CACHE_SECONDS
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return cap if timeout is None else min(timeout, cap)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return super().add(key, value, self._capped(timeout), version=version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        super().set(key, value, self._capped(timeout), version=version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return super().touch(key, self._capped(timeout), version=version)

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        return super().set_many(data, self._capped(timeout), version=version)


class UserRedisCache(_RedisCache):
    """The user cache's backend: Redis only, with the client reused. An outage is handled by
    its one user, config/usercache.py (users are read from the database), never by a database
    fallback."""
