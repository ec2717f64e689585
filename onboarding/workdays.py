"""Working-day arithmetic on the official Chinese calendar.

`chinesecalendar` knows the State Council's schedule up to its last release; for a year it
does not know we fall back to Monday–Friday rather than fail.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar


def is_workday(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """The same time of day, `days` working days after `start`."""
    day = start.date()
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_workday(day):
            counted += 1
    return start.replace(year=day.year, month=day.month, day=day.day)
