"""Cockpit snapshots: the figures of every scope kept ready, so no page view computes them.

The figures of one scope (a branch subtree), period and language are stored as a
`CockpitSnapshot` row (upserted on its unique key, so two workers on two hosts computing the
same key leave one row). The default period (the last year) of every scope a user can have is
precomputed by Celery beat (`analytics.tasks.cockpit_refresh`, every ANALYTICS_REFRESH_SECONDS)
and, after a change to a case, by one debounced refresh of the scopes above that case
(`scopes_mark_dirty` marks them; the first mark enqueues `cockpit_refresh_dirty` a minute
later, see signals.py; later events of that minute find them already dirty and enqueue nothing).
A page view never computes the default period (issue 26: heavy jobs never on the web workers):
a snapshot older than ANALYTICS_SNAPSHOT_MAX_SECONDS is shown as it is, the page saying when
it was computed and that it is being updated, and the view asks the worker for a refresh of
that scope (`analytics.refreshes`: one per scope and language however many views ask); after
midnight, until the new day's snapshot exists, the page shows the newest one of an earlier
default period with that period named; with none at all (a fresh install) it says the figures
are being computed. Another period (dates the user chose) is computed on request and stored
the same way, reused for ANALYTICS_CACHE_SECONDS (`cockpit_page_for` says why). Exports write the very computation the page showed (its
links carry its time; the row keeps the figures of the refresh before too); drill-down lists
are live (the pages say so).

The page itself reads the row's page form, not its `figures`: what the page shows of them (the
first COCKPIT_ROWS rows of each table in `page`, the charts' script in `page_charts`), shaped
with them, so a page view parses a few kilobytes instead of a head office's whole tables
(several hundred). The scope is the row's key: a supervisor's page form is shaped from its
subtree's figures only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeGuard

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F, Q, Subquery
from django.utils import timezone, translation
from django.utils.html import json_script
from django.utils.safestring import SafeString, mark_safe

from branches.models import Branch

from . import charts, selectors
from .models import CockpitSnapshot
from .selectors import ANALYTICS_ROLES, Period, Table

KEEP_DAYS = 2  # snapshots of other periods not computed again for this long are dropped
# The cockpit shows this many rows of each table (a bank's tables by branch and by person run
# to hundreds of rows: 0.4 MB of page at head office); each cut table links to itself in full,
# from the same computation, and its exports have every row.
COCKPIT_ROWS = 20
# The shape of `CockpitSnapshot.page`: a row whose page form has another shape (or another
# COCKPIT_ROWS) gets a new one from its figures on the next view (`cockpit_page_for`).
PAGE_FORM = 1


def filters_key(language: str | None = None) -> str:
    return f"lang={language or translation.get_language() or settings.LANGUAGE_CODE}"


# --- figures as JSON ----------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return {"date": value.isoformat()}
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise TypeError(f"cockpit cell of type {type(value).__name__}")


def encode(tables: dict[str, Table]) -> dict[str, Any]:
    return {
        key: {
            "key": t.key,
            "title": t.title,
            "columns": list(t.columns),
            "rows": [[_cell(v) for v in row] for row in t.rows],
            "links": list(t.links),
        }
        for key, t in tables.items()
    }


def decode(data: dict[str, Any]) -> dict[str, Table]:
    # A date cell is {"date": ...} (`_cell`), the rest as stored; one loop without a call per
    # cell: a head office's tables hold ~16,000 cells, decoded on every page.
    date = dt.date.fromisoformat
    return {
        key: Table(
            t["key"],
            t["title"],
            t["columns"],
            [[date(v["date"]) if type(v) is dict else v for v in row] for row in t["rows"]],
            t["links"],
        )
        for key, t in data.items()
    }


# --- the page's part of the figures --------------------------------------------------------------


def page_form(tables: dict[str, Table], computed_at: dt.datetime) -> tuple[dict[str, Any], str]:
    """What the cockpit page shows of these tables, in the current language (`CockpitSnapshot.page`
    and `.page_charts`): each table's first COCKPIT_ROWS rows with the whole table's length, and
    the charts drawn from the whole tables as the page's script element, already escaped
    (json_script over 40 KB of specs is 2 ms a view, most of it its escaping)."""
    specs = charts.chart_specs(tables)
    heads = {key: t.head(COCKPIT_ROWS) for key, t in tables.items()}
    page = {
        "form": PAGE_FORM,
        "rows": COCKPIT_ROWS,
        "computed_at": computed_at.isoformat(),
        "tables": {key: {**encoded, "total": heads[key].total} for key, encoded in encode(heads).items()},
        "charted": [spec["id"] for spec in specs],
    }
    return page, str(json_script(specs, "analytics-charts"))


def _page_current(page: Any, computed_at: dt.datetime) -> TypeGuard[dict[str, Any]]:
    # Shaped from this row's very computation: an older version of this code (a rolling
    # deploy) replaces the figures without the page form.
    return (
        isinstance(page, dict)
        and page.get("form") == PAGE_FORM
        and page.get("rows") == COCKPIT_ROWS
        and isinstance(at := page.get("computed_at"), str)
        and dt.datetime.fromisoformat(at) == computed_at
    )


def page_decode(page: dict[str, Any], page_charts: str) -> tuple[dict[str, Table], list[str], SafeString]:
    """The tables (their first rows, `cut` when longer), the ids of the charted ones, and the
    charts' script element."""
    tables = decode(page["tables"])
    for key, table in tables.items():
        table.total = page["tables"][key]["total"]
    # json_script's own output, stored by page_form (only this app writes the row).
    return tables, page["charted"], mark_safe(page_charts)  # noqa: S308


# --- computing and storing ----------------------------------------------------------------------


def store(*, scope: Branch, period: Period, now: dt.datetime | None = None) -> tuple[dict[str, Table], dt.datetime]:
    """Compute the figures of one scope and period in the current language and upsert them."""
    tables, _page, _charts, now = _store(scope=scope, period=period, now=now)
    return tables, now


def _store(
    *, scope: Branch, period: Period, now: dt.datetime | None = None
) -> tuple[dict[str, Table], dict[str, Any], str, dt.datetime]:
    now = now or timezone.now()
    tables = selectors.scope_cockpit(path=scope.path, period=period, now=now)
    figures = encode(tables)
    page, page_charts = page_form(tables, now)
    key = {"scope": scope, "period_start": period.start, "period_end": period.end, "filters_key": filters_key()}
    # Two statements, each safe when another host runs the same key at the same moment: the
    # row is created if missing (the unique key refuses a second), then replaced when older,
    # its figures kept as the previous ones. Neither touches `dirty_since`: a refresh clears it
    # before computing, so a change during the computation marks the row again.
    CockpitSnapshot.objects.bulk_create(
        [CockpitSnapshot(**key, computed_at=now, figures=figures, page=page, page_charts=page_charts)],
        ignore_conflicts=True,
    )
    CockpitSnapshot.objects.filter(**key, computed_at__lt=now).update(
        previous_computed_at=F("computed_at"),
        previous_figures=F("figures"),
        computed_at=now,
        figures=figures,
        page=page,
        page_charts=page_charts,
    )
    return tables, page, page_charts, now


def max_age(period: Period) -> float:
    if period == Period.default():
        return float(settings.ANALYTICS_SNAPSHOT_MAX_SECONDS)
    return float(settings.ANALYTICS_CACHE_SECONDS)


class Pending(Exception):
    """No figures of the user's scope to show yet (a fresh install): a refresh was asked for."""


def _stale(computed_at: dt.datetime, period: Period, now: dt.datetime) -> bool:
    return (now - computed_at).total_seconds() > max_age(period)


def refresh_scope(*, scope_id: int, language: str, asked_at: dt.datetime, now: dt.datetime | None = None) -> int:
    """The worker's side of `ask_refresh`: the default figures of that scope in that language,
    unless a refresh since the ask (beat's, a dirty one, a duplicate ask) already wrote them."""
    period = Period.default()
    scope = Branch.objects.filter(pk=scope_id).first()
    if scope is None:
        return 0
    with translation.override(language):
        done = CockpitSnapshot.objects.filter(
            scope_id=scope_id,
            period_start=period.start,
            period_end=period.end,
            filters_key=filters_key(),
            computed_at__gte=asked_at,
        ).exists()
        if done:
            return 0
        store(scope=scope, period=period, now=now)
    return 1


def _previous_default(rows: Any, period: Period) -> Any:
    """The scope's newest snapshot of an earlier default period (the last year up to an earlier
    day): what the page shows after midnight until the new day's figures are computed."""
    for start, end in (
        rows.filter(period_end__lt=period.end).order_by("-period_end").values_list("period_start", "period_end")[:7]
    ):
        if Period.default(end) == Period(start, end):
            return Period(start, end)
    return None


def cockpit_for(
    *, user: Any, period: Period, at: dt.datetime | None = None
) -> tuple[dict[str, Table], dt.datetime, bool]:
    """The figures the user's page shows, and when they were computed. With `at` (the time a
    page said its figures were computed: its export links carry it), that very computation when
    the row still holds it, current or previous, however old. Otherwise the snapshot of the
    user's own scope: the default period's as stored whatever its age (never computed here;
    the third value says it is stale, and the caller asks the worker for a refresh; none at all
    raises `Pending`), another period's when recent enough, else computed now and stored."""
    now = timezone.now()
    if not selectors.analytics_allowed(user):  # the views refuse them first; nothing stored
        return selectors.cockpit(user=user, period=period, now=now), now, False
    rows = CockpitSnapshot.objects.filter(
        scope_id=user.branch_id, period_start=period.start, period_end=period.end, filters_key=filters_key()
    )
    if at is not None:
        snap = rows.only("computed_at", "figures", "previous_computed_at", "previous_figures").first()
        if snap is not None and snap.computed_at == at:
            return decode(snap.figures), snap.computed_at, False
        if snap is not None and snap.previous_computed_at == at and snap.previous_figures is not None:
            return decode(snap.previous_figures), at, False
    snap = rows.only("computed_at", "figures").first()
    if period == Period.default():
        if snap is None:
            raise Pending
        return decode(snap.figures), snap.computed_at, _stale(snap.computed_at, period, now)
    if snap is not None and not _stale(snap.computed_at, period, now):
        return decode(snap.figures), snap.computed_at, False
    return (*store(scope=user.branch, period=period, now=now), False)


@dataclass
class CockpitPage:
    """What the cockpit page shows (`page_decode`), when and for which period it was computed,
    and whether it is stale (older than the default period's bound, or of an earlier default
    period): the view then asks the worker for a refresh and says so."""

    tables: dict[str, Table]
    charted: list[str]
    charts_script: SafeString
    computed_at: dt.datetime
    period: Period
    stale: bool = False


def _page_of(rows: Any, period: Period) -> CockpitPage | None:
    snap = rows.values_list("computed_at", "page", "page_charts").first()
    if snap is None:
        return None
    computed_at, page, page_charts = snap
    if not _page_current(page, computed_at):
        # A row written without its page form (before it existed, or by older code) or with
        # another shape of it: shaped from that very computation's figures, and kept for
        # the next view unless a newer computation replaced the row meanwhile.
        figures = rows.filter(computed_at=computed_at).values_list("figures", flat=True).first()
        if figures is None:  # replaced meanwhile: the newer row
            return _page_of(rows, period)
        page, page_charts = page_form(decode(figures), computed_at)
        rows.filter(computed_at=computed_at).update(page=page, page_charts=page_charts)
    return CockpitPage(*page_decode(page, page_charts), computed_at=computed_at, period=period)


def cockpit_page_for(*, user: Any, period: Period) -> CockpitPage | None:
    """What the user's cockpit page shows: the page form of the user's own scope's snapshot (one
    small row read). The default period is never computed here: a snapshot older than its bound
    is returned `stale` (the view asks the worker for a refresh, `analytics.refreshes`); before
    the new day's snapshot exists (after midnight) the newest one of an earlier default period
    is returned, stale, with its own period; with none at all (a fresh install) None. Another
    period (dates the user chose) is computed now and stored when its snapshot is missing or
    older than ANALYTICS_CACHE_SECONDS, as before: the user asked for those dates and waits for
    them once (a waiting page would have them reload until a worker got to it), nothing
    computes them unasked, and the period is at most three years (`views._period`)."""
    now = timezone.now()
    if not selectors.analytics_allowed(user):  # the views refuse them first; nothing stored
        tables = selectors.cockpit(user=user, period=period, now=now)
        return CockpitPage(*page_decode(*page_form(tables, now)), computed_at=now, period=period)
    scope_rows = CockpitSnapshot.objects.filter(scope_id=user.branch_id, filters_key=filters_key())
    rows = scope_rows.filter(period_start=period.start, period_end=period.end)
    shown = _page_of(rows, period)
    if shown is not None:
        shown.stale = _stale(shown.computed_at, period, now)
    if period != Period.default():
        if shown is not None and not shown.stale:
            return shown
        _tables, page, page_charts, computed_at = _store(scope=user.branch, period=period, now=now)
        return CockpitPage(*page_decode(page, page_charts), computed_at=computed_at, period=period)
    if shown is None and (previous := _previous_default(scope_rows, period)) is not None:
        shown = _page_of(scope_rows.filter(period_start=previous.start, period_end=previous.end), previous)
        if shown is not None:
            shown.stale = True
    return shown


# --- which scopes, and refreshing them ----------------------------------------------------------


def snapshot_scopes() -> list[Branch]:
    """Every scope a cockpit user can have: the head office's whole tree, and the home branch of
    every active user with an analytics role (a supervisor's branch, a head-office auditor's...)."""
    homes = (
        get_user_model()
        .objects.filter(is_active=True, branch__isnull=False, groups__name__in=list(ANALYTICS_ROLES))
        .values("branch_id")
    )
    return list(Branch.objects.filter(Q(pk__in=homes) | Q(parent__isnull=True)).distinct().order_by("path"))


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def refresh(*, scopes: list[Branch] | None = None, now: dt.datetime | None = None) -> int:
    """Precompute the default period of these scopes (all by default) in every language; also
    drop snapshots of other periods nobody asked for in KEEP_DAYS. Returns snapshots written."""
    now = now or timezone.now()
    scopes = snapshot_scopes() if scopes is None else scopes
    period = Period.default()
    ids = [s.pk for s in scopes]
    CockpitSnapshot.objects.filter(
        scope_id__in=ids, period_start=period.start, period_end=period.end, dirty_since__isnull=False
    ).update(dirty_since=None)
    written = 0
    for lang in languages():
        with translation.override(lang):
            for scope in scopes:
                store(scope=scope, period=period, now=now)
                written += 1
    CockpitSnapshot.objects.filter(computed_at__lt=now - dt.timedelta(days=KEEP_DAYS)).delete()
    return written


def refresh_dirty(*, now: dt.datetime | None = None) -> int:
    """Recompute the default-period snapshots marked dirty (by `scopes_mark_dirty`)."""
    period = Period.default()
    ids = set(
        CockpitSnapshot.objects.filter(
            period_start=period.start, period_end=period.end, dirty_since__isnull=False
        ).values_list("scope_id", flat=True)
    )
    if not ids:
        return 0
    return refresh(scopes=list(Branch.objects.filter(pk__in=ids).order_by("path")), now=now)


def scopes_mark_dirty(*, case_id: int, now: dt.datetime | None = None) -> bool:
    """Mark the snapshots of every scope above the case's branch dirty (one statement). Returns
    whether any was still clean: the first mark since their last refresh, after which the caller
    (`signals.py`) enqueues one debounced refresh."""
    from .sources import OnboardingCase

    period = Period.default()
    marked = (
        CockpitSnapshot.objects.filter(period_start=period.start, period_end=period.end, dirty_since__isnull=True)
        .alias(case_path=Subquery(OnboardingCase.objects.filter(pk=case_id).values("branch__path")[:1]))
        .filter(case_path__startswith=F("scope__path"))
        .update(dirty_since=now or timezone.now())
    )
    return bool(marked)
