"""Seed `CalendarDay` from the `chinesecalendar` package (used by a data migration and `seed_calendar`)."""

from __future__ import annotations

from typing import Any

HOLIDAY_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def chinesecalendar_days() -> list[tuple[Any, bool, str]]:
    """(date, is_workday, name) for every holiday and adjusted working day the package knows."""
    import chinese_calendar

    rows = []
    for day, name in chinese_calendar.holidays.items():
        rows.append((day, False, HOLIDAY_ZH.get(name, name)))
    for day, name in chinese_calendar.workdays.items():
        if day.weekday() >= 5:  # only the adjusted weekends (调休上班) differ from Monday–Friday
            rows.append((day, True, f"{HOLIDAY_ZH.get(name, name)}调休上班"))
    return sorted(rows)


def seed_from_chinesecalendar(model: Any = None) -> int:
    """Insert the days missing from the table; days an administrator already entered are kept."""
    if model is None:
        from .models import CalendarDay as model
    existing = set(model.objects.values_list("date", flat=True))
    new = [model(date=d, is_workday=w, name=n) for d, w, n in chinesecalendar_days() if d not in existing]
    model.objects.bulk_create(new, batch_size=1000)
    from .workcal import forget_days

    forget_days()  # bulk inserts send no signals
    return len(new)
