"""Timestamps read by psycopg's C loader (`config.postgresql.base.UtcTimestamptzLoader`, issue 26).

Django reads every `timestamptz` in Python (~4 µs a value); this backend hands each to
psycopg's C loader when the connection's time zone is UTC, as Django sets it. What a reader
gets must not change: the same instant, `tzinfo` the very `datetime.UTC` Django's loader
gives, through the ORM, a raw cursor, a prepared read and a cursor of Django's own. On a
session that set another time zone gets the same instants in UTC (Django's loader would
keep the local clock reading and call it UTC).
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from config.models import FormSubmission
from config.postgresql.base import UtcTimestamptzLoader
from config.statements import read_cursor

pytestmark = pytest.mark.postgres

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
MOMENTS = [
    dt.datetime(2026, 12, 7, 10, 20, 45, 123456, tzinfo=SHANGHAI),  # a working day, local time
    dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),  # before the epoch
    dt.datetime(2, 3, 4, 5, 6, 7, 8, tzinfo=dt.UTC),  # four-digit years with leading zeros
]


def _select(cursor: object) -> list[dt.datetime | None]:
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT %s::timestamptz, %s::timestamptz, %s::timestamptz, %s::timestamptz, NULL::timestamptz", MOMENTS
    )
    return list(cursor.fetchone())  # type: ignore[attr-defined]


def _is_utc(values: list[dt.datetime | None]) -> bool:
    return all(v is None or v.tzinfo is dt.UTC for v in values)


def test_the_connection_reads_timestamps_with_the_c_loader(db):
    with connection.cursor() as cursor:
        loader = connection.connection.adapters.get_loader(
            psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT
        )
        assert loader is UtcTimestamptzLoader
        assert connection.connection.info.parameter_status("TimeZone") == "UTC"
        values = _select(cursor)
    assert values[:4] == MOMENTS and values[4] is None
    assert _is_utc(values)
    assert values[0] == dt.datetime(2026, 12, 7, 2, 20, 45, 123456, tzinfo=dt.UTC)
    if psycopg.pq.__impl__ != "python":  # the C extension is installed: its loader does the work
        fast = UtcTimestamptzLoader(psycopg.adapters.types["timestamptz"].oid, connection.connection)
        assert type(fast.load.__self__).__module__.startswith("psycopg_")  # type: ignore[attr-defined]


def test_the_values_are_djangos_through_every_way_of_reading(db):
    with read_cursor() as cursor:  # a prepared read (config.statements)
        prepared = _select(cursor)
    with connection.cursor() as cursor:
        plain = _select(cursor)
    # Django's own loader, on the same connection, as it reads without this backend.

    class Django(BaseTzLoader):
        timezone = dt.UTC

    raw = psycopg.ClientCursor(connection.connection)
    raw.adapters.register_loader("timestamptz", Django)
    djangos = _select(raw)
    assert prepared == plain == djangos
    assert _is_utc(prepared) and _is_utc(plain) and _is_utc(djangos)
    assert [v.isoformat() for v in plain if v] == [v.isoformat() for v in djangos if v]


def test_the_orm_reads_a_time_back_as_written(db):
    moment = dt.datetime(2026, 12, 7, 9, 30, 0, 654321, tzinfo=SHANGHAI)
    row = FormSubmission.objects.create(key="t" * 64, path="/cases/", created_at=moment)
    read = FormSubmission.objects.values_list("created_at", flat=True).get(pk=row.pk)
    assert read == moment and read.tzinfo is dt.UTC
    assert read.isoformat() == "2026-12-07T01:30:00.654321+00:00"
    assert FormSubmission.objects.filter(created_at__lt=moment + dt.timedelta(microseconds=1)).get() == row


def test_a_connection_in_another_time_zone_gets_djangos_answer(db):
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Shanghai'")
        try:
            values = _select(cursor)  # a new cursor's loader sees the connection's time zone
        finally:
            cursor.execute("SET TIME ZONE 'UTC'")
    assert values[:4] == MOMENTS and _is_utc(values)
