"""The one door through which analytics reaches the working-day calendar and the SLAs.

Figures and forecasts count working days on the same database calendar as the reminders
(`CalendarDay`, `StageSLA`). That code may move to its own app; only this module then changes.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from workcalendar.workcal import DAY, WorkCalendar
from workcalendar.workcal import calendar as _calendar
from workcalendar.workcal import sla_map as _sla_map

__all__ = ["DAY", "WorkCalendar", "calendar_for", "sla_map", "working_day_after"]


def calendar_for(lo: dt.datetime | dt.date, hi: dt.datetime | dt.date | None = None) -> WorkCalendar:
    """The calendar loaded (one query) for [lo, hi]; it loads more by itself when asked beyond."""
    lo_d = timezone.localtime(lo).date() if isinstance(lo, dt.datetime) else lo
    hi_d = (timezone.localtime(hi).date() if isinstance(hi, dt.datetime) else hi) if hi is not None else None
    return _calendar(lo_d, hi_d)


def sla_map() -> dict[str, int]:
    return _sla_map()


def working_day_after(cal: WorkCalendar, start: dt.datetime, days: float) -> dt.date:
    """The calendar date `days` working days (may be fractional) of working time after `start`."""
    return timezone.localtime(cal.shift(start, round(days * DAY))).date()
