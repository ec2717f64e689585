"""`|minute` writes what `|date:"Y-m-d H:i"` writes (issue 26: the case pages use it for speed)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import engines
from django.utils import timezone


def _both(value: object) -> tuple[str, str]:
    engine = engines["django"]
    ours = engine.from_string("{% load moments %}{{ v|minute }}").render({"v": value})
    django = engine.from_string('{{ v|date:"Y-m-d H:i" }}').render({"v": value})
    return ours, django


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC),  # the next day in Beijing
        dt.datetime(2026, 1, 2, 3, 4, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 6, 1, 8, 5),  # naive: written as it is
        None,
        "",
    ],
)
def test_minute_writes_what_the_date_filter_writes(value: object) -> None:
    ours, django = _both(value)
    assert ours == django


def test_minute_is_local_time() -> None:
    ours, _ = _both(dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC))
    local = timezone.localtime(dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC))
    assert ours == local.strftime("%Y-%m-%d %H:%M")
    assert ours != "2026-12-31 16:30" or local.utcoffset() == dt.timedelta(0)
