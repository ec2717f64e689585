"""The generated demo history is a history the services could have written, and the backtest replays it."""

from __future__ import annotations

import io
import itertools

from django.core.management import call_command
from django.db.models import Count

from analytics import history
from analytics.models import CaseForecast, VisitFact
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.states import TERMINAL_STATES, WORKING_STAGES


def test_generated_cases_are_consistent_and_include_rework(world) -> None:
    made = history.generate(n=300, seed=3)
    assert made == 300
    cases = OnboardingCase.objects.filter(reference__contains=history.REF_MARK)
    assert cases.count() == 300
    for case in cases.prefetch_related("visits", "events")[:300]:
        visits = sorted(case.visits.all(), key=lambda v: v.entered_at)
        for a, b in itertools.pairwise(visits):
            assert a.left_at == b.entered_at  # each stage starts when the previous one ended
        if case.state in TERMINAL_STATES:
            assert all(v.left_at for v in visits) and case.current_visit_id is None
        elif case.state in WORKING_STAGES:
            assert case.current_visit_id == visits[-1].pk and visits[-1].stage == case.state
        transitions = [
            e
            for e in case.events.all()
            if e.kind == CaseEvent.Kind.TRANSITION and e.name not in ("endorse", "suspend", "resume")
        ]
        assert len(transitions) == sum(1 for v in visits if v.left_at)
    names = dict(CaseEvent.objects.values("name").annotate(n=Count("pk")).values_list("name", "n"))
    assert names.get("return_to_intake", 0) > 5 and names.get("retest_requested", 0) > 5
    assert cases.filter(state="live").count() > 200


def test_seed_history_builds_facts_and_forecasts_and_is_idempotent(world) -> None:
    first = history.seed_history(cases=120)
    assert first["history_cases"] == 120 and VisitFact.objects.exists()
    assert CaseForecast.objects.count() == first["forecasts"] > 0
    again = history.seed_history(cases=120)
    assert again["history_cases"] == 0
    assert OnboardingCase.objects.filter(reference__contains=history.REF_MARK).count() == 120


def test_forecast_backtest_prints_coverage_and_error(world) -> None:
    history.generate(n=400, seed=5)
    out = io.StringIO()
    call_command("forecast_backtest", stdout=out)
    text = out.getvalue()
    assert "P85 coverage:" in text and "median |P50 error|:" in text
    coverage = float(text.split("P85 coverage:")[1].split("%")[0])
    assert 70 <= coverage <= 97


def test_nightly_task_and_refresh_command_rebuild_everything(world) -> None:
    from analytics.models import ForecastModel
    from analytics.tasks import analytics_nightly

    history.generate(n=150, seed=9)
    out = io.StringIO()
    call_command("analytics_refresh", stdout=out)
    assert "visit facts:" in out.getvalue()
    facts = VisitFact.objects.count()
    assert facts > 150 and ForecastModel.objects.count() == 1
    forecast_count = analytics_nightly()
    assert forecast_count == CaseForecast.objects.count() > 0
    assert VisitFact.objects.count() == facts and ForecastModel.objects.count() == 1
