"""Working-day arithmetic on the official Chinese calendar, as kept in the database.

The calendar and the service levels are administrator-editable (`workcalendar.CalendarDay`,
`workcalendar.StageSLA`); a year nobody has entered falls back to Monday–Friday without error.
This is the small surface the workflow uses (`onboarding.services`); `workcal` is the arithmetic.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from . import workcal


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """The same (local) time of day, `days` working days after `start`."""
    return workcal.calendar(timezone.localtime(start).date()).add_working_days(start, days)


def due_at(stage: str, entered_at: dt.datetime) -> dt.datetime | None:
    """When a visit of `stage` entered at `entered_at` is due (None for stages without a service level)."""
    days = workcal.sla_days(stage)
    return add_working_days(entered_at, days) if days else None


def extend_for_pause(due: dt.datetime, paused_at: dt.datetime, resumed_at: dt.datetime) -> dt.datetime:
    """Push a due time back by the working time that passed while the case was suspended."""
    cal = workcal.calendar(timezone.localtime(min(paused_at, due)).date(), timezone.localtime(due).date())
    return cal.shift(due, cal.working_seconds(paused_at, resumed_at))
