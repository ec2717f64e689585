"""Staff and portal pages served again from Redis until a table under them is written.

**What a stored page depends on.** While a page is computed, every statement its queries send
is read for the tables it names (`FROM` and `JOIN`). The page is stored with those tables'
**generations**: a token per table in Redis that every committed write to that table replaces.
A stored page is served only while each of its tables still has the generation it was computed
with, so nobody is served a page from before a write to a table it shows: whoever asks after a
commit gets a page computed after it. The generations are read *before* the page is computed
(all tables at once): a write that commits while it is being computed makes it stale at once.

**How writes are seen.** Every database connection gets an execute wrapper that recognises
INSERT, UPDATE, DELETE, TRUNCATE and data-modifying WITH statements, whichever code sends them
(the services, `bulk_create`, `queryset.update()`, the sweep's one statement, the admin, a
management command, a Celery worker on another host), and the tables they write. Outside a
transaction the generations are replaced right after the statement; inside one, when it
commits (`transaction.on_commit`); a rolled-back transaction changed nothing. A write whose
table cannot be told (TRUNCATE of several, anything unusual) replaces the generation every page
depends on. While the current connection holds writes not yet committed, its own reads bypass
the cache (they may see data nobody else can yet). The session table and the cache's own
fallback table are not watched: renewing a session's expiry changes no page. What the wrapper
cannot see (someone's SQL typed straight into psql) shows within `PAGE_CACHE_SECONDS`.

**What varies by reader** is in the key: the user, the browser's CSRF secret (the page's forms
carry a token made from it), the language, the full path with its query. The notification
bell in the top bar is not stored: it is drawn fresh into every page served (one COUNT), so a
new notice does not make every page of its reader stale.

**The clock** changes pages too ("还剩 2 个工作日" becomes "逾期"), without any write: a page is
served within one `PAGE_CACHE_SECONDS` window of the clock (60 s by default) at most.

**Never served from the cache:** anything but a GET answered 200, a page with a message waiting
to be shown, a browser without a CSRF cookie yet, and everything while Redis does not answer
(pages are computed as if there were no cache; nothing falls back to the database). A view opts
in with `cached_page(...)`; its access checks stay in the view, before it, so the cache only
ever holds what its reader may see.

Several processes and hosts share the generations through Redis. Without Redis (the SQLite
demo, where a worker process writes too) the cache is off unless PAGE_CACHE is set, and then it
is process-local: right for one process (the test suite), wrong for several.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.utils import timezone, translation

from . import cache as shared_cache

logger = logging.getLogger("config.pagecache")

ALIAS = "pages"
EVERYTHING = "*"  # the generation every page depends on: replaced by writes of unknown reach
# Writes to these tables change no page; reads of them are no dependency.
UNWATCHED_TABLES = frozenset({"django_session", "audit_cachefallbackentry"})
# Tables written by the database's own triggers when a statement writes the key table: no
# statement names them, so a write to the key table replaces their generations too.
TRIGGER_WRITES = {"onboarding_onboardingcase": frozenset({"onboarding_stagecount"})}
# What every page depends on without its queries saying so: the top bar's reader, their branch
# or company and roles (read by the middleware before the page is computed), and the working-day
# calendar (read from the shared cache, workcalendar/workcal.py).
ALWAYS_READ = (
    "accounts_user",
    "accounts_user_groups",
    "auth_group",
    "branches_branch",
    "onboarding_enterprise",
    "workcalendar_calendarday",
    "workcalendar_stagesla",
)
BELL_TEMPLATE = "reminders/_bell.html"
BELL_MARK = "<!--pagecache:bell-->"
_WRITE_START = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "WITH", "REPLACE", "MERGE")
_WRITTEN = re.compile(r'\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+"?(\w+)"?', re.I)
_READ = re.compile(r'\b(?:FROM|JOIN)\s+"?(\w+)"?', re.I)
# A login's only write to the user row (`django.contrib.auth.models.update_last_login`:
# `save(update_fields=["last_login"])`), exactly as Django sends it: it changes no page (none
# shows `last_login`) nor the user's copy (config/usercache.py; nothing checks `last_login`),
# so it replaces no generation. Any other column in the same statement is a write as usual.
_LAST_LOGIN_ONLY = re.compile(r'UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"\."id" = %s', re.I)
RETRY_SECONDS = 30.0
_down_until = 0.0
_missed_writes = False  # a write committed while Redis did not answer (see `bump`)
_local = threading.local()


def _location() -> str:
    return str(settings.CACHES.get(ALIAS, {}).get("LOCATION", ""))


def enabled() -> bool:
    if not settings.PAGE_CACHE or time.monotonic() < _down_until or shared_cache.redis_down(_location()):
        return False
    if _missed_writes:
        _catch_up()
    return True


def _catch_up() -> None:
    """Writes committed while Redis did not answer replaced no generation: every page is stale."""
    global _missed_writes
    _missed_writes = False
    bump(None)


def cache() -> Any:
    """The page cache's Redis (also config/usercache.py's)."""
    return caches[ALIAS]


def failed(exc: Exception) -> None:
    """Redis did not answer: pages are computed (and users read) for a while."""
    global _down_until
    if time.monotonic() >= _down_until:
        logger.warning(
            "page cache: Redis does not answer (%s); pages are computed, retrying in %ds", exc, RETRY_SECONDS
        )
    _down_until = time.monotonic() + RETRY_SECONDS
    if _location().startswith(("redis://", "rediss://", "unix://")):
        shared_cache.mark_down(_location())  # the other clients of this Redis skip it too


def gen_key(table: str) -> str:
    # Per database: two databases behind one Redis never share generations or pages.
    return f"gen:{settings.DATABASES['default']['NAME']}:{table}"


# --- writes --------------------------------------------------------------------------------


def written_tables(sql: str) -> frozenset[str] | None:
    """The tables `sql` writes: empty for a read, None for a write whose tables are unknown."""
    head = sql.lstrip()[:8].upper()
    if not head.startswith(_WRITE_START):
        return frozenset()
    if head.startswith("TRUNCATE"):
        return None
    if _LAST_LOGIN_ONLY.fullmatch(sql.strip()):
        return frozenset()
    tables = frozenset(t.lower() for t in _WRITTEN.findall(sql))
    tables = tables.union(*(TRIGGER_WRITES.get(t, ()) for t in tables))
    if head.startswith("WITH"):
        return tables - UNWATCHED_TABLES  # no INSERT/UPDATE/DELETE in it: a read
    return (tables - UNWATCHED_TABLES) if tables else None


def is_write(sql: str) -> bool:
    return written_tables(sql) != frozenset()


def bump(tables: Iterable[str] | None = None) -> None:
    """`tables` changed (None: anything may have): every page computed before is stale."""
    if not settings.PAGE_CACHE:
        return
    global _missed_writes
    names = [EVERYTHING] if tables is None else list(tables)
    if not names:
        return
    if not enabled():
        # Redis does not answer: the write is not held up by a timeout, and when Redis answers
        # again every page stored before is made stale (`_catch_up`); until then none is served.
        _missed_writes = True
        return
    token = uuid.uuid4().hex
    try:
        cache().set_many({gen_key(t): token for t in names}, None)
    except Exception as exc:  # a cache outage must not fail the write that committed
        failed(exc)
        _missed_writes = True


class _OnCommit:
    """The tables a transaction wrote, replaced when it commits."""

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
    reading = getattr(_local, "reading", None)
    if reading is not None:
        reading.update(t.lower() for t in _READ.findall(sql))
    tables = written_tables(sql)
    if tables == frozenset():
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
    return any(_pending(conn) is not None for conn in connections.all(initialized_only=True) if conn.in_atomic_block)


# --- pages ---------------------------------------------------------------------------------

_all_tables: list[str] | None = None


def _tables() -> list[str]:
    global _all_tables
    if _all_tables is None:
        from django.apps import apps

        names = {m._meta.db_table for m in apps.get_models(include_auto_created=True)}
        _all_tables = sorted(names - UNWATCHED_TABLES)
    return _all_tables


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


def _servable(request: HttpRequest) -> bool:
    if request.method != "GET" or not enabled() or "CSRF_COOKIE" not in request.META:
        return False
    storage = getattr(request, "_messages", None)
    if storage is not None and len(storage):
        return False
    return not uncommitted_writes()


def _page_key(request: HttpRequest, name: str) -> str:
    user = request.user
    reader = f"{user.pk}:{request.META['CSRF_COOKIE']}"
    digest = hashlib.sha256(f"{reader}|{request.get_full_path()}".encode()).hexdigest()[:32]
    # A page is not served past its window of the clock, even if Redis were to keep it longer.
    window = int(timezone.now().timestamp() // settings.PAGE_CACHE_SECONDS)
    return f"page:{settings.DATABASES['default']['NAME']}:{name}:{window}:{translation.get_language()}:{digest}"


def building(request: HttpRequest) -> bool:
    """True while `request`'s page is being computed for the cache (base.html leaves the bell out)."""
    return bool(getattr(request, "pagecache_building", False))


NOTICE_TABLE = "notices_notification"


def _bell_key(request: HttpRequest) -> str:
    return f"bell:{settings.DATABASES['default']['NAME']}:{request.user.pk}:{translation.get_language()}"


def _with_bell(request: HttpRequest, content: bytes, found: dict[str, Any] | None = None) -> bytes:
    """`content` with the reader's bell drawn in: the stored bell while the notice table's
    generation (read in `found`, with the page's own) is the one it was drawn at, else fresh."""
    if BELL_MARK.encode() not in content:
        return content
    bell = None
    if found is not None:
        stored, gen = found.get(_bell_key(request)), found.get(gen_key(NOTICE_TABLE))
        if stored is not None and gen is not None and stored[0] == gen:
            bell = stored[1]
    if bell is None:
        bell = get_template(BELL_TEMPLATE).render({"request": request})
        gen = (found or {}).get(gen_key(NOTICE_TABLE))
        if gen is not None:
            try:
                cache().set(_bell_key(request), (gen, bell), settings.PAGE_CACHE_SECONDS)
            except Exception as exc:
                failed(exc)
    return content.replace(BELL_MARK.encode(), bell.encode(), 1)


def _build(request: HttpRequest, build: Callable[[], HttpResponse]) -> tuple[HttpResponse, set[str]]:
    read: set[str] = set()
    _local.reading = read
    request.pagecache_building = True  # type: ignore[attr-defined]
    try:
        response = build()
    finally:
        _local.reading = None
        request.pagecache_building = False  # type: ignore[attr-defined]
    return response, read


def cached_page(
    request: HttpRequest,
    name: str,
    build: Callable[[], HttpResponse],
    *,
    check: Callable[[Any], None] | None = None,
) -> HttpResponse:
    """The page `build()` makes, served from Redis while none of the tables it read was written.

    Call it after the view's own access checks, or pass them as `check`: run before a stored
    page is served (it raises to refuse), not when `build()` runs, which checks for itself. It is
    given what `build()` left in `request.pagecache_facts` (stored with the page, so as current
    as the page: a write to a table the page read makes both stale).
    `name` names the page in the key.
    """
    if not _servable(request):
        return build()
    key = _page_key(request, name)
    hit = None
    try:
        stored = cache().get(key)
        if stored is not None and len(stored) == 4:  # (an entry of another shape: from older code)
            gens, content, content_type, facts = stored
            # One round trip: the page's generations, the notice table's and the stored bell.
            found = cache().get_many([*gens, gen_key(NOTICE_TABLE), _bell_key(request)])
            if all(found.get(k) == v for k, v in gens.items()):
                hit = (content, content_type, facts, found)
        if hit is None:
            before = generations([EVERYTHING, *_tables()])
    except Exception as exc:  # an outage means computing, not failing
        failed(exc)
        return build()
    if hit is not None:
        content, content_type, facts, found = hit
        if check is not None:
            check(facts)  # outside the try: its refusal (Http404) is the answer, not an outage
        get_token(request)  # as a rendered page would: the CSRF cookie's expiry is renewed
        return HttpResponse(_with_bell(request, content, found), content_type=content_type)
    response, read = _build(request, build)
    if (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not uncommitted_writes()  # computing it wrote something
        and not len(getattr(request, "_messages", ()))  # it showed a message made while computing it
    ):
        deps = {k: before[k] for k in (gen_key(t) for t in (EVERYTHING, *ALWAYS_READ, *sorted(read))) if k in before}
        try:
            facts = getattr(request, "pagecache_facts", None)
            entry = (deps, response.content, response["Content-Type"], facts)
            cache().set(key, entry, settings.PAGE_CACHE_SECONDS)
        except Exception as exc:
            failed(exc)
    response.content = _with_bell(request, response.content)
    return response
