"""Due times shown in working days, the unit every deadline is set in."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django import template
from django.utils import timezone

from .. import workcal

register = template.Library()

# One calendar per rendered page: a list of 50 rows loads the holidays once, not 50 times.
_CACHE_ATTR = "_workcal_for_page"


def _page_calendar(context: Any, lo: dt.date, hi: dt.date) -> workcal.WorkCalendar:
    holder = context.get("request") if context is not None else None
    cal = getattr(holder, _CACHE_ATTR, None) if holder is not None else None
    if cal is None:
        today = timezone.localdate()
        cal = workcal.calendar(min(lo, today - dt.timedelta(days=366)), max(hi, today + dt.timedelta(days=366)))
        if holder is not None:
            setattr(holder, _CACHE_ATTR, cal)
    return cal


def working_days_between(context: Any, start: dt.datetime, end: dt.datetime) -> float:
    cal = _page_calendar(
        context, timezone.localtime(min(start, end)).date(), timezone.localtime(max(start, end)).date()
    )
    return cal.working_seconds(start, end) / workcal.DAY


@register.simple_tag(takes_context=True)
def late_workdays(context: Any, due: dt.datetime | None) -> int | None:
    """Whole working days (rounded up) a due time has passed; None when not yet due."""
    if due is None:
        return None
    now = timezone.now()
    if due >= now:
        return None
    return max(1, math.ceil(working_days_between(context, due, now)))


@register.simple_tag(takes_context=True)
def left_workdays(context: Any, due: dt.datetime | None) -> int | None:
    """Whole working days (rounded down) until a due time; negative when past it."""
    if due is None:
        return None
    days = working_days_between(context, timezone.now(), due)
    return math.floor(days) if days >= 0 else -max(1, math.ceil(-days))
