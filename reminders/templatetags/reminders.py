from __future__ import annotations

import html
from typing import Any

from django import template
from django.utils.safestring import mark_safe

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


@register.simple_tag(takes_context=True)
def notice_items(
    context: Any, notices: Any, mark_read: str, unread_label: str, cleared_label: str, mark_label: str
) -> str:
    """The lines of the notifications page (`reminders/notifications.html`), the markup its loop
    wrote, in one pass: 100 lines of a dozen tags and lookups each were most of the page's
    template time (issue 26). The forms carry the page's one CSRF token, as `{% csrf_token %}` does."""
    token = context.get("csrf_token")
    csrf = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{html.escape(str(token))}">'
        if token and token != "NOTPROVIDED"
        else ""
    )
    unread_badge = f'<span class="badge danger">{html.escape(unread_label)}</span>'
    cleared_badge = f'<span class="badge">{html.escape(cleared_label)}</span>'
    form_start = f'<form method="post" action="{html.escape(mark_read)}" class="inline">{csrf}<input type="hidden" name="id" value="'
    form_end = f'"><button class="link">{html.escape(mark_label)}</button></form>'
    out = []
    for n in notices:
        message = html.escape(n.message)
        text = f'<a href="{html.escape(n.url)}">{message}</a>' if n.url else message
        out.append(
            f'\n    <li class="{"read" if n.read else "unread"}">'
            f"\n      <time>{html.escape(n.when)}</time>"
            f"\n      {'' if n.read else unread_badge}{cleared_badge if n.read and n.cleared else ''}"
            f"\n      {text}"
            f"\n      {'' if n.read else f'{form_start}{n.pk}{form_end}'}"
            "\n    </li>\n  "
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


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
