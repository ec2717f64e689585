"""Go-live forecasts: Kaplan–Meier per stage, laid on the working-day calendar.

Each working stage's duration (working days a case spends in it, all its visits summed, so
rework is part of the distribution) is estimated from past cases; cases still in the stage,
or that ended in it (rejected, withdrawn), are censored. A case's remaining time is the
conditional distribution of its current stage given the time already spent, convolved with
the distributions of the stages after it. Each stage's distribution comes from cases of the
same tier-1 branch and module set when at least MIN_EVENTS of them finished that stage,
else the same tier-1 branch, else all cases.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from casetypes import declaration

from . import calendar as workcal
from . import stats
from .facts import facts_refresh, facts_refresh_open, modules_key, tier1_of
from .models import CaseForecast, ForecastModel, VisitFact
from .sources import WORKING_STAGES, OnboardingCase

MIN_EVENTS = 20
Observation = tuple[int, str, str, float, bool]  # tier1, modules key, stage, days, finished


def group_keys(tier1: int, mods: str) -> list[str]:
    return [f"t{tier1}|{mods}", f"t{tier1}", "all"]


def fit(observations: Iterable[Observation]) -> dict[str, Any]:
    """The fitted model: per group and stage, the Kaplan–Meier distribution and its P50/P85."""
    per: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    for tier1, mods, stage, days, ended in observations:
        for key in group_keys(tier1, mods):
            per[(key, stage)].append((days, ended))
    groups: dict[str, dict[str, Any]] = defaultdict(dict)
    for (key, stage), obs in per.items():
        events = sum(1 for _d, e in obs if e)
        if events < MIN_EVENTS and key != "all":
            continue
        pmf = stats.km_pmf(obs)
        groups[key][stage] = {
            "n": len(obs),
            "events": events,
            "pmf": [round(m, 6) for m in pmf],
            "p50": stats.quantile(pmf, 50),
            "p85": stats.quantile(pmf, 85),
        }
    return {"min_events": MIN_EVENTS, "groups": dict(groups)}


def observations_from_facts() -> list[Observation]:
    """(case, stage) totals from the visit facts (open visits as of their last refresh)."""
    totals: dict[tuple[int, str], list[Any]] = {}
    furthest: dict[int, int] = defaultdict(int)
    rows = VisitFact.objects.values_list("case_id", "stage", "tier1_id", "modules_key", "work_seconds", "left_at")
    for case_id, stage, tier1, mods, work, left in rows.iterator(chunk_size=20000):
        cell = totals.setdefault((case_id, stage), [tier1, mods, 0, True])
        cell[2] += work
        cell[3] = cell[3] and left is not None
        furthest[case_id] = max(furthest[case_id], WORKING_STAGES.index(stage))
    live = set(OnboardingCase.objects.filter(state__in=declaration.live_states()).values_list("pk", flat=True))
    out = []
    for (case_id, stage), (tier1, mods, work, closed) in totals.items():
        ended = closed and (case_id in live or furthest[case_id] > WORKING_STAGES.index(stage))
        out.append((tier1, mods, stage, work / workcal.DAY, ended))
    return out


def model_fit(*, now: dt.datetime | None = None) -> ForecastModel:
    facts_refresh_open(now=now)
    model = ForecastModel.objects.create(fitted_at=now or timezone.now(), data=fit(observations_from_facts()))
    ForecastModel.objects.filter(fitted_at__lt=model.fitted_at).delete()
    return model


def model_current() -> dict[str, Any]:
    model = ForecastModel.objects.order_by("-fitted_at").first()
    return model.data if model else {"groups": {}}


@dataclass
class Prediction:
    p50_days: float
    p85_days: float
    stage_p85: float | None
    basis: str
    basis_n: int


class Forecaster:
    """Predictions from one fitted model; the convolutions of later stages are shared between cases."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.groups: dict[str, dict[str, Any]] = model.get("groups", {})
        self._tails: dict[tuple[str, ...], stats.Pmf] = {}

    def stage_dist(self, tier1: int, mods: str, stage: str) -> tuple[str, dict[str, Any]] | None:
        for key in group_keys(tier1, mods):
            d = self.groups.get(key, {}).get(stage)
            if d is not None:
                return key, d
        return None

    def _tail(self, keys: tuple[str, ...], stages: tuple[str, ...]) -> stats.Pmf:
        memo = (*keys, "|", *stages)
        if memo not in self._tails:
            pmf: stats.Pmf = [1.0]
            for key, stage in zip(keys, stages, strict=True):
                pmf = stats.convolve(pmf, self.groups[key][stage]["pmf"])
            self._tails[memo] = pmf
        return self._tails[memo]

    def predict(self, *, tier1: int, mods: str, stage: str, elapsed_days: float) -> Prediction | None:
        if stage not in WORKING_STAGES:
            return None
        current = self.stage_dist(tier1, mods, stage)
        if current is None:
            return None
        later = WORKING_STAGES[WORKING_STAGES.index(stage) + 1 :]
        chosen = [self.stage_dist(tier1, mods, s) for s in later]
        keys = tuple(c[0] for c in chosen if c is not None)
        stages = tuple(s for s, c in zip(later, chosen, strict=True) if c is not None)
        dist = stats.convolve(stats.conditional(current[1]["pmf"], elapsed_days), self._tail(keys, stages))
        return Prediction(
            p50_days=stats.quantile(dist, 50),
            p85_days=stats.quantile(dist, 85),
            stage_p85=current[1]["p85"],
            basis=current[0],
            basis_n=current[1]["n"],
        )


def _current_stage(case: OnboardingCase) -> str:
    return declaration.active_stage(case)


def forecasts_refresh(*, case_ids: Iterable[int], now: dt.datetime | None = None, refresh_facts: bool = True) -> int:
    """Recompute the stored forecasts of these cases (closed cases lose theirs)."""
    now = now or timezone.now()
    ids = list(case_ids)
    if refresh_facts:
        facts_refresh(case_ids=ids, now=now)
    forecaster = Forecaster(model_current())
    elapsed: dict[tuple[int, str], int] = defaultdict(int)
    for case_id, stage, work in VisitFact.objects.filter(case_id__in=ids).values_list(
        "case_id", "stage", "work_seconds"
    ):
        elapsed[(case_id, stage)] += work
    cal = workcal.calendar_for(now, now + dt.timedelta(days=400))
    made: list[CaseForecast] = []
    cases = OnboardingCase.objects.filter(pk__in=ids).select_related("branch", "current_visit")
    for case in cases:
        stage = _current_stage(case)
        if stage not in WORKING_STAGES:
            continue
        spent = elapsed[(case.pk, stage)] / workcal.DAY
        p = forecaster.predict(
            tier1=tier1_of(case.branch.path), mods=modules_key(case.modules), stage=stage, elapsed_days=spent
        )
        visit = case.current_visit
        f = CaseForecast(
            case=case,
            computed_at=now,
            stage=stage,
            holder_party=visit.holder_party if visit else "",
            holder_role=visit.holder_role if visit else "",
            stage_elapsed_days=round(spent, 1),
            target_date=case.target_date,
        )
        if p is not None:
            f.p50_date = workcal.working_day_after(cal, now, p.p50_days)
            f.p85_date = workcal.working_day_after(cal, now, p.p85_days)
            f.stage_p85_days = p.stage_p85
            f.basis, f.basis_n = p.basis, p.basis_n
            f.target_late = bool(case.target_date and f.p85_date > case.target_date)
            if p.stage_p85 is not None and not declaration.is_paused(case.state):
                left = p.stage_p85 - spent
                f.stage_late_at = cal.shift(now, int(left * workcal.DAY)) if left > 0 else now
        made.append(f)
    with transaction.atomic():
        CaseForecast.objects.filter(case_id__in=ids).delete()
        CaseForecast.objects.bulk_create(made)
    return len(made)


def forecasts_refresh_all(*, now: dt.datetime | None = None, batch: int = 2000) -> int:
    """Nightly: refit the model on all history, then re-forecast every open case."""
    now = now or timezone.now()
    model_fit(now=now)
    open_ids = list(
        OnboardingCase.objects.filter(state__in=(*WORKING_STAGES, *declaration.paused_states()))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    CaseForecast.objects.exclude(case_id__in=open_ids).delete()
    done = 0
    for i in range(0, len(open_ids), batch):
        done += forecasts_refresh(case_ids=open_ids[i : i + batch], now=now, refresh_facts=False)
    return done


def case_refresh(case_id: int) -> None:
    """After a change to one case: its facts and forecast (a dozen queries)."""
    forecasts_refresh(case_ids=[case_id])
