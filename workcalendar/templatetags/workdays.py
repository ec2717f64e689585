"""Due times shown in working days, the unit every deadline is set in."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django import template
from django.utils import timezone

from .. import workcal

register = template.Library()


def _page_calendar(context: Any, lo: dt.date, hi: dt.date) -> workcal.WorkCalendar:
    return workcal.page_calendar(context.get("request") if context is not None else None, lo, hi)


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
