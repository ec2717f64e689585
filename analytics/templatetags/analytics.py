from __future__ import annotations

import datetime as dt
import html
from typing import Any

from django import template
from django.conf import settings
from django.db import connection
from django.template.base import render_value_in_context
from django.template.context import Context
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.functional import Promise
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from config.statements import read_cursor
from onboarding.queue import from_micros, micros

from .. import selectors
from ..models import CaseForecast

register = template.Library()


@register.filter
def get_table(tables: dict[str, Any], key: str) -> Any:
    return tables.get(key)


@register.simple_tag(takes_context=True)
def table_rows(context: Context, table: Any) -> SafeString:
    """The body rows of a figures table (`analytics/_table.html`), the markup its loop wrote,
    built in one pass: the cockpit's tables hold 200-odd rows of cells, and the template
    engine's nested loops were most of the page's 30 ms of CPU."""
    see = escape(gettext("查看案件"))
    # django.utils.html.escape is html.escape behind a lazy-string check: called per cell (a
    # thousand a page), the check cost more than the escaping.
    esc = html.escape
    plain_ints = not settings.USE_THOUSAND_SEPARATOR  # an int shows as str(int), as `{{ v }}` shows it
    point = plain_ints and get_format("DECIMAL_SEPARATOR") == "."

    def cell(v: Any) -> str:
        if v is None:
            return "<td>–</td>"
        if type(v) is str:
            return f"<td>{esc(v)}</td>"
        if type(v) is int and plain_ints:
            return f"<td>{v}</td>"
        if type(v) is float and point and "e" not in (text := str(v)) and "n" not in text:
            return f"<td>{text}</td>"  # what number_format gives without grouping: str(float)
        # Floats and dates, localised; a table repeats its dates (16 µs each). Keyed with the
        # type: 1 == 1.0 == True, and each shows differently.
        key = (type(v), v)
        if key not in shown:
            shown[key] = render_value_in_context(v, context)
        return f"<td>{shown[key]}</td>"

    shown: dict[tuple[type, Any], str] = {}
    out = []
    for row, link in table.pairs:
        cells = "".join(cell(v) for v in row)
        out.append(f'<tr>{cells}<td><a href="{esc(link)}">{see}</a></td></tr>\n  ')
    return mark_safe("".join(out))  # noqa: S308 - every value and link is escaped above


@register.filter
def can_see_analytics(user: Any) -> bool:
    return selectors.analytics_allowed(user)


def _basis_label(basis: str) -> str:
    from django.utils.translation import gettext as _

    if basis == "all":
        return _("全部案件")
    if "|" in basis:
        return _("同一分行且同一模块组合")
    return _("同一分行")


@register.inclusion_tag("analytics/_case_forecast.html")
def case_forecast(case: Any) -> dict[str, Any]:
    """The go-live forecast panel of a case page (one query)."""
    if not case.is_open:
        forecast = None
    elif "forecast" in case._state.fields_cache:  # read with the case by its page
        forecast = case._state.fields_cache["forecast"]
    else:
        forecast = CaseForecast.objects.filter(case_id=case.pk).first()
    if forecast is None:
        return {"forecast": None}
    now = timezone.now()
    return {
        "forecast": forecast,
        "at_risk": forecast.at_risk(now),
        "risk": selectors.risk_text(forecast, now),
        "stage": selectors.stage_label(forecast.stage),
        "holder": selectors.holder_label(forecast.holder_party, forecast.holder_role),
        "basis": _basis_label(forecast.basis),
    }


@register.simple_tag
def case_forecasts(rows: Any) -> dict[int, dict[str, Any]]:
    """The forecasts of the open cases of a list (one query for the whole list), keyed by case:
    P50/P85, whether at risk and, if so, why, the stage and who holds it."""
    cases = [getattr(r, "case", r) for r in rows]  # cases, or queue items holding one
    ids = sorted({c.pk for c in cases if getattr(c, "is_open", False)})
    if not ids:
        return {}
    now = timezone.now()
    out: dict[int, dict[str, Any]] = {}
    # A list shows a handful of stages and holders: each label translated once for the list.
    stages: dict[str, str] = {}
    holders: dict[tuple[str, str], str] = {}
    for f in CaseForecast.objects.filter(case_id__in=ids):
        at_risk = f.at_risk(now)
        # The stage and who holds it are shown beside a risk only (the lists' forecast cells).
        stage = holder = ""
        if at_risk:
            if f.stage not in stages:
                stages[f.stage] = selectors.stage_label(f.stage)
            if (f.holder_party, f.holder_role) not in holders:
                holders[f.holder_party, f.holder_role] = selectors.holder_label(f.holder_party, f.holder_role)
            stage, holder = stages[f.stage], holders[f.holder_party, f.holder_role]
        out[f.case_id] = {
            "forecast": f,
            "at_risk": at_risk,
            "risk": selectors.risk_text(f, now) if at_risk else "",
            "stage": stage,
            "holder": holder,
        }
    return out


@register.filter
def forecast_of(forecasts: dict[int, Any], case_id: int) -> Any:
    return forecasts.get(case_id) if forecasts else None


_NO_FORECAST = mark_safe('<td class="forecast-cell">—</td>')


@register.filter
def forecast_cell(forecasts: dict[int, Any], case_id: int) -> SafeString:
    """The forecast column of a list row (`case_forecasts`' entry for the case), written in
    Python: a list renders 25 of them, and the template's tags cost more than the page's query."""
    fc = forecasts.get(case_id) if forecasts else None
    if fc is None or fc["forecast"].p85_date is None:
        return _NO_FORECAST
    p85 = fc["forecast"].p85_date.strftime("%Y-%m-%d")
    # format_html's output, each value escaped as it would (conditional_escape), without its
    # lazy wrappers: 25 cells a page.
    if not fc["at_risk"]:
        return mark_safe(f'<td class="forecast-cell">P85 {_esc(p85)}</td>')  # noqa: S308
    return mark_safe(  # noqa: S308
        f'<td class="forecast-cell">P85 {_esc(p85)} <span class="badge danger" title="{_esc(fc["risk"])}">'
        f'{_esc(gettext("延期风险"))}</span><div class="sub">{_esc(fc["stage"])} · {_esc(fc["holder"])}</div></td>'
    )


# What a forecast cell reads of a forecast (`forecast_cell`, `CaseForecast.at_risk`, `risk_text`).
_CELL_FIELDS = (
    "case_id",
    "p85_date",
    "target_late",
    "stage_late_at",
    "stage",
    "holder_party",
    "holder_role",
    "stage_elapsed_days",
    "stage_p85_days",
)


@register.simple_tag
def forecast_cells(rows: Any) -> dict[int, SafeString]:
    """Every row's forecast column by case id, the markup `forecast_cell` writes, the forecasts
    in one query: for lists written in Python by another app (the dashboard's queue,
    `onboarding/queue_rows.py`), which takes the cells from its template rather than import this
    app. Written for a list of up to a hundred rows (issue 26): the columns the cells show only,
    each label, badge and risk text translated and escaped once for the list rather than per
    row (the translations were most of its 2 ms)."""
    cases = [getattr(r, "case", r) for r in rows]
    cells = dict.fromkeys((c.pk for c in cases), _NO_FORECAST)
    ids = sorted({c.pk for c in cases if getattr(c, "is_open", False)})
    if not ids:
        return cells
    now = timezone.now()
    badge = _esc(gettext("延期风险"))
    stages: dict[str, str] = {}
    holders: dict[tuple[str, str], str] = {}
    risks: dict[tuple[Any, ...], str] = {}
    # The columns as values (a forecast model built per row cost more than its cell); a model
    # is built only for a risk text not yet written (`risk_text` reads it).
    dates: dict[Any, str] = {}
    for case_id, p85_date, target_late, stage_late_at, stage_code, party, role, elapsed, stage_p85 in _cell_rows(ids):
        if isinstance(stage_late_at, int):  # PostgreSQL: `micros`
            stage_late_at = from_micros(stage_late_at)
        elif stage_late_at is not None and stage_late_at.tzinfo is None:  # SQLite: naive, in UTC
            stage_late_at = stage_late_at.replace(tzinfo=dt.UTC)
        if (p85 := dates.get(p85_date)) is None:  # PostgreSQL gives the date as its ISO text
            p85 = dates[p85_date] = p85_date if isinstance(p85_date, str) else p85_date.strftime("%Y-%m-%d")
        stage_late = stage_late_at is not None and stage_late_at <= now  # `CaseForecast.stage_late`
        if not (target_late or stage_late):  # `CaseForecast.at_risk`
            cells[case_id] = mark_safe(f'<td class="forecast-cell">P85 {p85}</td>')  # noqa: S308 - digits
            continue
        if (stage := stages.get(stage_code)) is None:
            stage = stages[stage_code] = _esc(selectors.stage_label(stage_code))
        if (holder := holders.get((party, role))) is None:
            holder = holders[party, role] = _esc(selectors.holder_label(party, role))
        key = (target_late, stage_late, stage_code, elapsed, stage_p85)
        if (risk := risks.get(key)) is None:
            shown = CaseForecast(
                target_late=target_late,
                stage_late_at=stage_late_at,
                stage=stage_code,
                stage_elapsed_days=elapsed,
                stage_p85_days=stage_p85,
            )
            risk = risks[key] = _esc(selectors.risk_text(shown, now))
        cells[case_id] = mark_safe(  # noqa: S308 - every value escaped above
            f'<td class="forecast-cell">P85 {p85} <span class="badge danger" title="{risk}">'
            f'{badge}</span><div class="sub">{stage} · {holder}</div></td>'
        )
    return cells


# The forecasts' columns a cell shows, written out: the ORM built the `IN` of up to 150 ids
# (about 1 ms of CPU a page); PostgreSQL takes them as one array parameter. Only the
# forecasts with a P85 date (a cell without one says "—").
_CELLS = (  # column names only
    "SELECT " + ", ".join(_CELL_FIELDS) + " FROM analytics_caseforecast"  # noqa: S608
    " WHERE case_id {ids} AND p85_date IS NOT NULL"
)


# On PostgreSQL the date as the text a cell shows (whatever the server's DateStyle) and the stage's late time as whole microseconds
# (`onboarding.queue.micros`): the driver's date and time-zone loaders were half this read's CPU
# (0.2 of 0.4 ms for a dashboard's 50 rows).
_CELLS_PG = (  # column names only
    "SELECT "  # noqa: S608
    + ", ".join(
        {"p85_date": "to_char(p85_date, 'YYYY-MM-DD')", "stage_late_at": micros("stage_late_at")}.get(name, name)
        for name in _CELL_FIELDS
    )
    + " FROM analytics_caseforecast WHERE case_id = ANY(%s) AND p85_date IS NOT NULL"
)


def _cell_rows(ids: list[int]) -> list[tuple[Any, ...]]:
    # Prepared on its connection (`read_cursor`): found by the cases' ids (one array parameter on
    # PostgreSQL), the same plan for any of them.
    with read_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_CELLS_PG, [ids])
        else:
            cursor.execute(_CELLS.format(ids=f"IN ({', '.join(['%s'] * len(ids))})"), ids)
        return cursor.fetchall()


def _esc(value: Any) -> str:
    # django.utils.html.conditional_escape: safe strings as they are, anything else escaped.
    if isinstance(value, Promise):
        value = str(value)
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))  # type: ignore[no-any-return]
