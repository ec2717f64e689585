"""The connection health check (config/postgresql): skipped right after a clean request only."""

from __future__ import annotations

import pytest
from django.db import connection, connections

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's check")


@pytest.fixture
def wrapper(db, settings, monkeypatch):
    conn = connections.create_connection("default")
    conn.settings_dict["CONN_HEALTH_CHECKS"] = True
    conn.settings_dict["CONN_MAX_AGE"] = 60
    checks: list[int] = []
    real = conn.is_usable
    monkeypatch.setattr(conn, "is_usable", lambda: checks.append(1) or real())
    conn.checks = checks
    yield conn
    conn.close()


def request(conn, sql: str = "SELECT 1") -> None:
    conn.close_if_unusable_or_obsolete()  # request_started
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close_if_unusable_or_obsolete()  # request_finished


def test_a_connection_used_moments_ago_is_not_checked_again(wrapper, settings):
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 60
    request(wrapper)  # connects: no check needed
    request(wrapper)
    request(wrapper)
    assert wrapper.checks == []


def test_with_zero_seconds_every_request_checks_as_django_does(wrapper, settings):
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 0
    request(wrapper)
    request(wrapper)
    request(wrapper)
    assert len(wrapper.checks) == 2


def test_a_connection_idle_longer_is_checked(wrapper, settings, monkeypatch):
    import time

    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 1
    request(wrapper)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 5)
    request(wrapper)
    assert len(wrapper.checks) == 1


def test_a_request_without_the_database_does_not_open_the_window(wrapper, settings, monkeypatch):
    import time

    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 1
    request(wrapper)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 5)
    wrapper.close_if_unusable_or_obsolete()  # a request that read nothing
    wrapper.close_if_unusable_or_obsolete()
    request(wrapper)
    assert len(wrapper.checks) == 1


def test_after_a_database_error_the_connection_is_checked_before_it_is_trusted_again(wrapper, settings):
    from django.db import DatabaseError

    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 60
    request(wrapper)
    wrapper.close_if_unusable_or_obsolete()
    with pytest.raises(DatabaseError), wrapper.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table")
    assert wrapper.checks == []
    wrapper.close_if_unusable_or_obsolete()  # request_finished: Django checks it after the error
    assert len(wrapper.checks) == 1
    request(wrapper)  # just checked: used without another check
    assert len(wrapper.checks) == 1


def test_a_broken_connection_within_the_window_is_replaced_after_one_failed_request(wrapper, settings):
    from django.db import OperationalError

    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 60
    request(wrapper)
    pid = wrapper.connection.info.backend_pid
    killer = connections.create_connection("default")
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    killer.close()
    wrapper.close_if_unusable_or_obsolete()
    with pytest.raises(OperationalError), wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    wrapper.close_if_unusable_or_obsolete()  # request_finished: the broken connection is closed
    request(wrapper)
    assert wrapper.connection.info.backend_pid != pid
