from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from . import exports, refreshes, selectors, snapshots
from .selectors import Period, Table

DRILL_ROWS = 500


def _table_urls() -> dict[str, str]:
    """The links under each figures table (`analytics/_table.html`): reversed once a page, not
    three times for each of the cockpit's twelve tables (15 µs each)."""
    return {
        "table": reverse("analytics:table"),
        "csv": reverse("analytics:export_csv"),
        "xlsx": reverse("analytics:export_xlsx"),
    }


def _allowed(request: HttpRequest) -> None:
    if not selectors.analytics_allowed(request.user):
        raise PermissionDenied


def _scope_id(request: HttpRequest) -> int:
    """The reader's scope, their home branch (`_allowed` let only readers with one through)."""
    user: Any = request.user
    return int(user.branch_id)


def _period(request: HttpRequest) -> tuple[Period, str]:
    default = Period.default()
    try:
        start = dt.date.fromisoformat(request.GET.get("from") or default.start.isoformat())
        end = dt.date.fromisoformat(request.GET.get("to") or default.end.isoformat())
    except ValueError:
        return default, _("日期格式有误,已显示最近一年。")
    if end < start or (end - start).days > 3 * 366:
        return default, _("期间无效(至多三年),已显示最近一年。")
    return Period(start, end), ""


@login_required
def cockpit_view(request: HttpRequest) -> HttpResponse:
    _allowed(request)
    return _cockpit(request)


def _cockpit(request: HttpRequest) -> HttpResponse:
    asked, problem = _period(request)
    # The first rows of each table and the charts, as shaped when the figures were computed
    # (snapshots.COCKPIT_ROWS; the charts drawn from the whole tables). The default period's
    # are never computed here: stale or missing, the worker is asked (`refreshes`) and the page
    # shows what there is, saying when (and for which period) it was computed.
    page = snapshots.cockpit_page_for(user=request.user, period=asked)
    pending = page is None or page.stale
    # Without a worker (tasks eager) the refresh ran in `publish`: its figures.
    if pending and refreshes.ask(scope_id=_scope_id(request)) and refreshes.ran_in_request():
        page = snapshots.cockpit_page_for(user=request.user, period=asked)
        pending = page is None or page.stale
    if page is None:
        return render(request, "analytics/cockpit_pending.html", {"period": asked, "problem": problem})
    return render(
        request,
        "analytics/cockpit.html",
        {
            "period": page.period,
            "asked": asked,
            "earlier_period": page.period != asked,
            "pending": pending,
            "problem": problem,
            "tables": page.tables,
            "computed_at": page.computed_at,
            "refresh_minutes": max(1, settings.ANALYTICS_REFRESH_SECONDS // 60),
            "charted": page.charted,
            "charts_script": page.charts_script,
            "table_only": ["risk", "type_cycle", "type_stage", "cycle_branch", "cycle_reviewer", "cycle_modules"],
            # Exports write this very computation (`at`), even after the next refresh; of the
            # period it was computed for (an earlier day's, after midnight).
            "query": urlencode({**page.period.params(), "at": page.computed_at.isoformat()}),
            "table_urls": _table_urls(),
        },
    )


def _figures(request: HttpRequest, period: Period) -> tuple[dict[str, Table], dt.datetime] | None:
    """The cockpit's figures for a table page or an export: the computation named by `at`, or
    the scope's snapshot (a stale default one asks the worker for a refresh); None when the
    default period has none yet."""
    try:
        tables, computed_at, stale = snapshots.cockpit_for(user=request.user, period=period, at=_at(request))
    except snapshots.Pending:
        refreshes.ask(scope_id=_scope_id(request))
        return None
    if stale:
        refreshes.ask(scope_id=_scope_id(request))
    return tables, computed_at


@login_required
def table_view(request: HttpRequest) -> HttpResponse:
    """One cockpit table in full: the very computation the cockpit showed (`at`)."""
    _allowed(request)
    return _table(request)


def _table(request: HttpRequest) -> HttpResponse:
    period, problem = _period(request)
    figures = _figures(request, period)
    if figures is None:
        return render(request, "analytics/cockpit_pending.html", {"period": period, "problem": problem})
    tables, computed_at = figures
    table = tables.get(request.GET.get("table", ""))
    if table is None:
        raise Http404
    return render(
        request,
        "analytics/table.html",
        {
            "period": period,
            "problem": problem,
            "table": table,
            "computed_at": computed_at,
            "query": urlencode({**period.params(), "at": computed_at.isoformat()}),
            "table_urls": _table_urls(),
        },
    )


def _drill(request: HttpRequest, period: Period, limit: int | None = None) -> tuple[Table, int]:
    params = {k: str(v) for k, v in request.GET.items() if k not in ("from", "to", "table", "at")}
    title, rows, total = selectors.drill_down(user=request.user, period=period, params=params, limit=limit)
    return selectors.drill_table(title, rows), total


@login_required
def cases_view(request: HttpRequest) -> HttpResponse:
    _allowed(request)
    period, problem = _period(request)
    # A figure over a year of a whole bank can stand for thousands of visits: the page shows
    # the first DRILL_ROWS (longest first), the export has them all.
    table, total = _drill(request, period, limit=DRILL_ROWS)
    return render(
        request,
        "analytics/cases.html",
        {
            "period": period,
            "problem": problem,
            "table": table,
            "total": total,
            "query": request.GET.urlencode(),
            "table_urls": _table_urls(),
        },
    )


def _at(request: HttpRequest) -> dt.datetime | None:
    try:
        at = dt.datetime.fromisoformat(request.GET.get("at", ""))
    except ValueError:
        return None
    return at if timezone.is_aware(at) else None


@login_required
def export_view(request: HttpRequest, fmt: str) -> HttpResponse:
    _allowed(request)
    table = request.GET.get("table", "")
    period, _problem = _period(request)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if table == "cases":
        tab, _total = _drill(request, period)
    else:
        # The very row the page charted (its snapshot), not a new computation.
        figures = _figures(request, period)
        if figures is None:
            return render(request, "analytics/cockpit_pending.html", {"period": period, "problem": ""})
        tables, computed_at = figures
        tab_or_none: Any = tables.get(table)
        if tab_or_none is None:
            raise Http404
        tab = tab_or_none
        stamp = timezone.localtime(computed_at).strftime("%Y%m%d-%H%M")  # when its figures were computed
    if fmt == "csv":
        response = HttpResponse(exports.table_csv(tab), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            exports.table_xlsx(tab), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    response["Content-Disposition"] = f'attachment; filename="analytics-{tab.key}-{stamp}.{fmt}"'
    return response
