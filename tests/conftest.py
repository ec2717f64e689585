"""Fixtures shared by the whole suite.

Logging in as bank staff
------------------------
Staff reach no page until their session has shown a second factor (audit.middleware.
MFARequiredMiddleware). Staff users built by tests/factories.py are enrolled in TOTP with
factories.TOTP_SECRET, and in this suite `client.force_login(user)` stands for a *complete*
login: for a user who must use a second factor (staff, admins) it enrols them with
TOTP_SECRET if needed and puts the "MFA given" mark (audit.mfa.MFA_SESSION_KEY) into the
session. The `login(client, user)` fixture does the same
and enrols the user first if needed. To test the second factor itself, use
`login(client, user, mfa=False)` (logged in, no mark) or the real flow in
tests/test_security_mfa.py (`password_and_totp_login`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.test import Client

from tests.factories import TOTP_SECRET, World


def _flush_lifting_truncate_guards() -> None:
    """Evidence tables refuse TRUNCATE and DELETE (config/evidence.py), and Django empties the
    test database after transactional tests: its flush alone runs inside `pgtrigger.ignore`
    for the evidence tables' triggers. Every other statement of the suite meets the triggers
    as the application does.

    The flush deletes the rows instead of truncating the tables. A TRUNCATE of the ~130 tables
    replaces every table's and index's files and took 3-5 s after each transactional test on
    PostgreSQL, while their few rows are deleted in milliseconds. The foreign keys Django
    makes are deferrable, checked at the commit, when every table is empty; `reset_sequences`
    still truncates (RESTART IDENTITY)."""
    import pgtrigger
    from django.db.backends.postgresql.operations import DatabaseOperations

    from config.dbroles import connected_as_owner

    flush = DatabaseOperations.execute_sql_flush
    sql_flush = DatabaseOperations.sql_flush

    def sql_flush_by_delete(
        self: DatabaseOperations, style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False
    ) -> list[str]:
        if reset_sequences or not tables:
            return sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return ["SET CONSTRAINTS ALL DEFERRED;"] + [f"DELETE FROM {self.quote_name(table)};" for table in tables]

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        # Every trigger lifted (the flush deletes rows of the evidence tables), as the tables'
        # owner when the suite runs as the app's role, which may neither truncate nor lift a
        # trigger (config/dbroles.py).
        uris = [trigger.get_uri(model) for model, trigger in pgtrigger.registered()]
        with connected_as_owner(self.connection), pgtrigger.ignore(*uris, databases=[self.connection.alias]):
            flush(self, sql_list)

    DatabaseOperations.sql_flush = sql_flush_by_delete  # type: ignore[method-assign]
    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]


_flush_lifting_truncate_guards()


# With MIGRATE_DATABASE_URL (as in CI: .ci/run), the test database is created and migrated as the
# tables' owner, and the tests then connect as the app's role of DATABASE_URL, which owns nothing:
# the suite meets the database as the application does in production (config/dbroles.py).
_app_role: dict[str, str] = {}


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> None:
    from django.db import connection

    from config.dbroles import owner_credentials

    owner = owner_credentials()
    if owner is not None and connection.vendor == "postgresql":
        _app_role.setdefault("USER", connection.settings_dict.get("USER") or "")
        _app_role.setdefault("PASSWORD", connection.settings_dict.get("PASSWORD") or "")
        connection.close()
        connection.settings_dict.update(owner)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> Iterator[None]:
    from django.db import connection

    from config.dbroles import owner_credentials

    owner = owner_credentials()
    if owner is None or connection.vendor != "postgresql":
        yield
        return
    connection.close()
    connection.settings_dict.update(_app_role)
    yield
    connection.close()
    connection.settings_dict.update(owner)  # the owner drops the test database


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if os.environ.get("CI") == "true" and os.environ.get("DATABASE_URL"):
                continue  # misconfigured: let it fail loudly
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db>")
            )
        if "redis" in item.keywords and not os.environ.get("REDIS_URL") and os.environ.get("CI") != "true":
            # In CI the test runs regardless and the `redis_url` fixture fails if Redis is down.
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/<n>"))


@pytest.fixture
def redis_url() -> str:
    """The Redis of REDIS_URL (in CI by default the local one), failing loudly when it is not there.

    Under pytest-xdist each worker has a database of its own (tests/testenv.py)."""
    import redis

    from tests.testenv import DEFAULT_TEST_REDIS_URL, worker_redis_url

    url = os.environ.get("REDIS_URL") or worker_redis_url(DEFAULT_TEST_REDIS_URL)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(
            f"Redis at {url} is not reachable ({exc}). Start it: "
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
        )
    return url


@pytest.fixture
def world(db: None) -> World:
    return World()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Dozens of users per test: the production hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Login rate limits and used TOTP codes live in the cache; no test inherits another's,
    # nor another's copy of a user.
    cache.clear()
    caches["users"].clear()


_plain_force_login = Client.force_login


def _mark_mfa(client: Client, user: Any) -> None:
    from audit.mfa import mfa_mark

    session = client.session
    mfa_mark(session, user)
    session.save()


@pytest.fixture(autouse=True)
def _force_login_is_a_complete_login(monkeypatch: pytest.MonkeyPatch) -> None:
    def force_login(self: Client, user: Any, backend: str | None = None) -> None:
        from audit.mfa import mfa_required, totp_enrol

        _plain_force_login(self, user, backend)
        if mfa_required(user):
            totp_enrol(user, TOTP_SECRET)
            _mark_mfa(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def login() -> Callable[..., Client]:
    """`login(client, user)`: logged in as after password + TOTP; `mfa=False`: password only."""

    def do_login(client: Client, user: Any, *, mfa: bool = True) -> Client:
        from audit.mfa import totp_enrol

        _plain_force_login(client, user)
        if mfa:
            totp_enrol(user, TOTP_SECRET)
            _mark_mfa(client, user)
        return client

    return do_login


@pytest.fixture(autouse=True)
def _document_storage(settings, tmp_path) -> None:
    # Uploaded and generated documents go to a per-test directory, never to var/.
    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "documents"},
        },
    }


@pytest.fixture(scope="session", autouse=True)
def _urls_loaded_before_any_frozen_clock() -> None:
    """Load every URLconf (and with it every view module) before any test freezes the clock.

    REST framework's throttles keep `time.time` as a class attribute when their module is
    imported: imported for the first time under `freeze_time`, they keep the frozen clock for
    the rest of the process, and every later API test meets a throttle that never moves. With
    tests in parallel (pytest-xdist), which test loads the URLs first is not fixed."""
    import rest_framework.throttling  # noqa: F401
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Figures a test recorded with `record_property("figures", text)` (tests/test_chaos.py), shown
    at the end of the run even with -q and pytest-xdist, so CI's log carries them."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "figures" and getattr(report, "when", "") == "call":
                    terminalreporter.write_sep("-", f"figures of {report.nodeid} ({outcome})")
                    terminalreporter.write_line(str(value))
