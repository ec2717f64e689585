"""Replaying history: how often did cases go live by the P85 forecast made at each stage entry?

Honest replay: the model used for a forecast made in month M is fitted only on what was known
at the start of M (visits cut at that moment, stages not yet finished then censored). Each
case that went live contributes one forecast per working stage it entered (at that moment,
nothing yet spent in the stage).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from casetypes import declaration

from . import calendar as workcal
from . import stats
from .forecast import Forecaster, Observation, fit
from .models import VisitFact
from .sources import WORKING_STAGES, OnboardingCase


@dataclass
class _Case:
    tier1: int
    mods: str
    visits: list[tuple[str, dt.datetime, dt.datetime | None, int]] = field(default_factory=list)
    live_at: dt.datetime | None = None


@dataclass
class BacktestResult:
    forecasts: int
    covered: int
    errors: list[float]
    per_stage: dict[str, tuple[int, int]]

    @property
    def coverage(self) -> float | None:
        return self.covered / self.forecasts if self.forecasts else None

    @property
    def median_error(self) -> float | None:
        return stats.percentile([abs(e) for e in self.errors], 50)


def _load() -> dict[int, _Case]:
    cases: dict[int, _Case] = {}
    rows = VisitFact.objects.order_by("entered_at").values_list(
        "case_id", "tier1_id", "modules_key", "stage", "entered_at", "left_at", "work_seconds", "closed_with"
    )
    for case_id, tier1, mods, stage, entered, left, work, closed_with in rows.iterator(chunk_size=20000):
        c = cases.setdefault(case_id, _Case(tier1, mods))
        c.visits.append((stage, entered, left, work))
        if closed_with == "go_live":
            c.live_at = left
    live = set(OnboardingCase.objects.filter(state__in=declaration.live_states()).values_list("pk", flat=True))
    for case_id, c in cases.items():
        if case_id not in live:
            c.live_at = None
    return cases


def _observations(cases: dict[int, _Case], t: dt.datetime, cal: workcal.WorkCalendar) -> list[Observation]:
    out: list[Observation] = []
    for c in cases.values():
        totals: dict[str, list[float | bool]] = {}
        furthest = -1
        for stage, entered, left, work in c.visits:
            if entered >= t:
                continue
            done = left is not None and left <= t
            seconds = work if done else max(cal.working_seconds(entered, t), 0)
            cell = totals.setdefault(stage, [0.0, True])
            cell[0] = float(cell[0]) + seconds / workcal.DAY
            cell[1] = bool(cell[1]) and done
            furthest = max(furthest, WORKING_STAGES.index(stage))
        live = c.live_at is not None and c.live_at <= t
        for stage, (days, closed) in totals.items():
            ended = bool(closed) and (live or furthest > WORKING_STAGES.index(stage))
            out.append((c.tier1, c.mods, stage, float(days), ended))
    return out


def _month_start(d: dt.datetime) -> dt.datetime:
    local = timezone.localtime(d)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(d: dt.datetime) -> dt.datetime:
    return (d + dt.timedelta(days=32)).replace(day=1)


def backtest(*, min_history_days: int = 90) -> BacktestResult:
    cases = _load()
    starts = [v[1] for c in cases.values() for v in c.visits]
    if not starts:
        return BacktestResult(0, 0, [], {})
    first, now = min(starts), timezone.now()
    cal = workcal.calendar_for(first, now + dt.timedelta(days=400))
    # Forecasts to check: each working-stage entry (first visit) of a case that went live.
    points: list[tuple[dt.datetime, _Case, str]] = []
    for c in cases.values():
        if c.live_at is None:
            continue
        seen: set[str] = set()
        for stage, entered, _left, _work in c.visits:
            if stage not in seen:
                seen.add(stage)
                points.append((entered, c, stage))
    by_month: dict[dt.datetime, list[tuple[dt.datetime, _Case, str]]] = defaultdict(list)
    for p in points:
        by_month[_month_start(p[0])].append(p)
    result = BacktestResult(0, 0, [], {})
    per_stage: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    month = _month_start(first + dt.timedelta(days=min_history_days))
    while month <= now:
        todo = by_month.get(month)
        if todo:
            forecaster = Forecaster(fit(_observations(cases, month, cal)))
            for entered, c, stage in todo:
                pred = forecaster.predict(tier1=c.tier1, mods=c.mods, stage=stage, elapsed_days=0)
                if pred is None or c.live_at is None:
                    continue
                p85_end = cal.shift(entered, int(pred.p85_days * workcal.DAY))
                p50_end = cal.shift(entered, int(pred.p50_days * workcal.DAY))
                covered = timezone.localtime(c.live_at).date() <= timezone.localtime(p85_end).date()
                result.forecasts += 1
                result.covered += covered
                result.errors.append(cal.working_seconds(p50_end, c.live_at) / workcal.DAY)
                per_stage[stage][0] += 1
                per_stage[stage][1] += covered
        month = _next_month(month)
    result.per_stage = {s: (v[0], v[1]) for s, v in per_stage.items()}
    return result
