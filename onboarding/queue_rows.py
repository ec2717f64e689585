"""The rows of "轮到我办理" as the dashboard shows them, written in Python (issue 26).

A dashboard lists up to a hundred items; written by the template, each row's tags and filters
(working days late or left, the date, the case's address, the forecast) cost about half a
millisecond, most of the page. Here the page's calendar is read once, the case's address is
formatted around its id, and each cell is escaped as the template escaped it: the same markup.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from html import escape  # Django's escape is this one behind a lazy-string wrapper
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from casetypes import declaration
from workcalendar import workcal

from .queue import QueueItem, case_url_pattern


class _Due:
    """The due cell and whether the item is overdue: the date, then whole working days late
    (rounded up, at least one) or left (rounded down), as `late_workdays` and `left_workdays`
    say; the texts translated once for the page."""

    def __init__(self, now: dt.datetime, cal: workcal.WorkCalendar | None) -> None:
        self.now, self.cal = now, cal
        self.tz = timezone.get_current_timezone()  # `localtime`'s zone, looked up once for the page
        # `cal.working_seconds(due, now)` is the difference of the two positions: now's taken once.
        self.at = cal.position(now.astimezone(self.tz)) if cal is not None else 0
        # As `{% blocktranslate %}` writes them: the translation as it is, the number in it.
        self.late = _("已超时 %(late_days)s 个工作日")
        self.left = _("尚余 %(left)s 个工作日")

    def cell(self, due: dt.datetime | None) -> tuple[str, bool]:
        if due is None or self.cal is None:
            return "—", False
        local = due.astimezone(self.tz)
        date = local.strftime("%Y-%m-%d")
        if due < self.now:
            late = max(1, math.ceil((self.at - self.cal.position(local)) / workcal.DAY))
            return f'{date} <span class="badge danger">{self.late % {"late_days": late}}</span>', True
        left = math.floor((self.cal.position(local) - self.at) / workcal.DAY)
        return f'{date} <span class="sub">{self.left % {"left": left}}</span>', False


def queue_rows(items: Sequence[QueueItem], *, request: Any, forecast_cells: Mapping[int, str]) -> SafeString:
    """The table body's rows of `items`, in their order. `forecast_cells` are the rows' forecast
    columns by case id, made by the analytics app (`{% forecast_cells %}`): the template brings
    them, so this app does not import the one that reads its cases."""
    now = timezone.now()
    dues = [item.due_at for item in items if item.due_at is not None]
    cal = None
    if dues:
        # The page's calendar (kept on the request, shared with the change requests' due times).
        lo, hi = timezone.localtime(min(dues)).date(), timezone.localtime(max(dues)).date()
        today = timezone.localdate(now)
        cal = workcal.page_calendar(request, min(lo, today), max(hi, today))
    due_cell = _Due(now, cal)
    # What rows repeat (a state's cell, a source's kind, an action), escaped once for the page.
    states: dict[str, str] = {}
    kinds: dict[str, str] = {}
    actions: dict[str, str] = {}
    # The case's address escaped once: a public id is hex digits and dashes.
    pattern = escape(case_url_pattern())
    out = []
    for item in items:
        case = item.case
        # The row's columns as `row_case` (or the ORM) put them: the state's field descriptor and
        # the primary key's property cost more than the rest of the lookups together.
        fields = case.__dict__
        try:
            code, public_id, reference, pk = fields["state"], fields["public_id"], fields["reference"], fields["id"]
        except KeyError:  # a case read with some of them deferred
            code, public_id, reference, pk = case.state, case.public_id, case.reference, case.pk
        due, overdue = due_cell.cell(item.due_at)
        if (state := states.get(code)) is None:
            label = escape(declaration.state_label(code))
            state = states[code] = f'<span class="state state-{escape(code)}">{label}</span>'
        if (kind := kinds.get(item.kind)) is None:
            kind = kinds[item.kind] = escape(item.kind)
        if (action := actions.get(item.action)) is None:
            action = actions[item.action] = escape(str(item.action))
        out.append(
            f'<tr class="queue-item{" overdue" if overdue else ""}" data-kind="{kind}">\n'
            f'      <td class="due">{due}</td>\n'
            f'      <td><a class="queue-action" href="{escape(item.url)}">{action}</a></td>\n'
            f'      <td><a href="{pattern.format(public_id)}">{escape(reference)}</a></td>\n'
            f"      <td>{escape(item.company)}</td>\n"
            f"      <td>{state}</td>\n"
            f"      {forecast_cells[pk]}\n"
            "    </tr>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped
