from __future__ import annotations

from typing import Any

from django import template

from workcalendar import workcal

from .. import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: Any) -> int:
    """One COUNT query per page, whatever the page shows."""
    request = context.get("request")
    return selectors.unread_count(user=getattr(request, "user", None))


@register.filter
def bell_badge(unread: int) -> str:
    """The bell's badge: the count, or "99+" beyond what the bell counts."""
    return f"{selectors.BELL_LIMIT}+" if unread > selectors.BELL_LIMIT else str(unread)


@register.simple_tag
def missing_schedule_years() -> list[int]:
    return workcal.missing_schedule_years()


@register.inclusion_tag("reminders/_case_sla.html")
def case_sla_panel(case: Any) -> dict[str, Any]:
    return {
        "case": case,
        "split": selectors.case_time_split(case=case),
        "late_days": selectors.visit_lateness_days(case=case),
        "reminders": list(case.reminders.order_by("created_at", "level")),
    }
