from __future__ import annotations

from typing import Any

from django import template

from onboarding.models import CaseEvent
from workcalendar import workcal

from .. import selectors
from ..models import Reminder

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: Any) -> int:
    """One COUNT query per page, whatever the page shows; none on a page that has listed all the
    person's notices and counted the unread among them (`request.unread_notifications`)."""
    request = context.get("request")
    known = getattr(request, "unread_notifications", None)
    if known is not None:
        return int(known)
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
        "reminders": _reminders(case),
    }


def _reminders(case: Any) -> list[Reminder]:
    """The reminders sent on the case, oldest first.

    The case page has read the reminder events already (`sla_events`), and the sweep records
    one event per reminder in the claim's own transaction (its level and stage in the data):
    the panel shows them from there rather than reading the claim rows again.
    """
    read = getattr(case, "sla_events", None)
    if read is None:
        return list(case.reminders.order_by("created_at", "level"))
    sent = [
        Reminder(level=e.data["level"], stage=e.data["stage"], created_at=e.created_at)
        for e in read
        if e.kind == CaseEvent.Kind.REMINDER and isinstance(e.data, dict) and "level" in e.data
    ]
    return sorted(sent, key=lambda r: (r.created_at, r.level))
