"""The Kaplan–Meier estimate, the go-live forecast and the at-risk rule, by hand."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.urls import reverse

from analytics import stats
from analytics.facts import facts_refresh
from analytics.forecast import MIN_EVENTS, fit, forecasts_refresh
from analytics.models import CaseForecast, ForecastModel
from analytics.selectors import at_risk_forecasts
from tests import analytics_history as h


def test_kaplan_meier_counts_censored_cases_as_at_risk_until_they_leave() -> None:
    # 1 ended, 2 censored, 3 ended, 4 ended: S(1) = 3/4, S(3) = 3/4 · 1/2, S(4) = 0.
    obs = [(1.0, True), (2.0, False), (3.0, True), (4.0, True)]
    assert stats.kaplan_meier(obs) == [(1.0, 0.75), (3.0, 0.375), (4.0, 0.0)]
    pmf = stats.km_pmf(obs)
    assert pmf[2] == 0.25 and pmf[6] == 0.375 and pmf[8] == 0.375
    assert stats.quantile(pmf, 50) == 3.0 and stats.quantile(pmf, 85) == 4.0
    # Having spent 1 day: 3 and 4 days remain equally likely → 2.0 or 3.0 more days.
    rest = stats.conditional(pmf, 1.0)
    assert rest[4] == 0.5 and rest[6] == 0.5
    # Everyone censored beyond the last event: the rest of the mass sits at the longest time.
    assert stats.km_pmf([(1.0, True), (5.0, False)])[10] == 0.5


def test_nearest_rank_percentiles() -> None:
    assert stats.percentile([8, 1, 5, 2], 50) == 2 and stats.percentile([8, 1, 5, 2], 85) == 8
    assert stats.percentile_of_histogram({10: 1, 20: 1, 50: 1, 80: 1}, 85) == 80
    assert stats.percentile([], 50) is None


def test_convolution_adds_independent_durations() -> None:
    one_or_two = [0.0, 0.0, 0.5, 0.0, 0.5]  # 1.0 or 2.0 days
    total = stats.convolve(one_or_two, one_or_two)
    assert stats.quantile(total, 50) == 3.0 and stats.quantile(total, 85) == 4.0


def test_a_group_needs_enough_finished_cases_else_the_forecast_falls_back() -> None:
    many = [(4, "a+b", "branch_intake", 2.0, True)] * MIN_EVENTS
    few = [(7, "a+b", "branch_intake", 9.0, True)] * (MIN_EVENTS - 1)
    model = fit(many + few)["groups"]
    assert model["t4|a+b"]["branch_intake"]["p50"] == 2.0
    assert "t7" not in model and "t7|a+b" not in model
    assert model["all"]["branch_intake"]["n"] == 2 * MIN_EVENTS - 1


def _pmf_at(days: float) -> list[float]:
    return [0.0] * int(days * 2) + [1.0]


@pytest.fixture
def forecasts(world):
    cases = h.build(world)
    groups = {
        s: {"n": 30, "events": 30, "pmf": _pmf_at(1.0), "p50": 1.0, "p85": 1.0}
        for s in (
            "branch_intake",
            "head_office_approval",
            "test_package_issuance",
            "joint_testing",
            "production_verification",
        )
    }
    groups["ukey_issuance"] = {"n": 30, "events": 30, "pmf": _pmf_at(5.0), "p50": 5.0, "p85": 5.0}
    ForecastModel.objects.create(data={"groups": {"all": groups}})
    forecasts_refresh(case_ids=[c.pk for c in cases.values()], now=h.NOW)
    return cases


def test_forecast_dates_are_laid_on_the_working_day_calendar(forecasts) -> None:
    c1 = CaseForecast.objects.get(case=forecasts["c1"])
    # UKey: 2.5 of 5.0 days spent → 2.5 left, then production verification 1.0: 3.5 working
    # days from Wed 26 Mar 09:00 → Mon 31 Mar 21:00.
    assert (c1.p50_date, c1.p85_date) == (dt.date(2025, 3, 31), dt.date(2025, 3, 31))
    assert c1.stage_elapsed_days == 2.5 and c1.stage_p85_days == 5.0
    c3 = CaseForecast.objects.get(case=forecasts["c3"])
    # Approval already longer than anyone's: nothing left of it; then 1.0 + 1.0 + 5.0 + 1.0
    # working days, over the Qingming holiday (Fri 4 Apr 2025): Tue 8 Apr.
    assert c3.p85_date == dt.date(2025, 4, 8)


def test_at_risk_when_p85_passes_the_target_or_the_stage_is_older_than_its_p85(forecasts, world) -> None:
    c1 = CaseForecast.objects.get(case=forecasts["c1"])
    assert c1.target_late and not c1.stage_late(h.NOW)  # P85 31 Mar > target 28 Mar
    c3 = CaseForecast.objects.get(case=forecasts["c3"])
    assert not c3.target_late and c3.stage_late(h.NOW)  # 8.0 days in approval > its P85 1.0
    assert {f.case.reference for f in at_risk_forecasts(user=world.approver, now=h.NOW)} == {"H-1", "H-2", "H-3"}
    assert {f.case.reference for f in at_risk_forecasts(user=world.supervisor_other, now=h.NOW)} == {"H-3"}


def test_the_case_page_shows_the_forecast_and_who_holds_the_late_stage(client, world, forecasts) -> None:
    client.force_login(world.approver)
    html = client.get(reverse("case_detail", args=[forecasts["c3"].public_id])).content.decode()
    # Dates as everywhere else on the page and in the lists' forecast cells (it read 2025年4月8日,
    # and "Apr. 8, 2025" in English, beside 2025-04-08 in the facts).
    assert 'id="case-forecast"' in html and "2025-04-08" in html and "2025年4月8日" not in html
    assert "延期风险" in html and "总行立项审批" in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("case_detail", args=[forecasts["c3"].public_id])).content.decode()
    card = html[html.index('id="case-forecast"') : html.index("</section>", html.index('id="case-forecast"'))]
    assert "2025-04-08" in card and "Apr." not in card
    # The risk line in English punctuation, not the Chinese sentence's.
    assert "<strong>At risk</strong>: " in card and "(current stage: Head-office approval; holder: " in card


def test_a_transition_refreshes_facts_and_forecast_after_commit(world, django_capture_on_commit_callbacks) -> None:
    from onboarding import services

    ForecastModel.objects.create(data={"groups": {}})
    case = world.case("draft")
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_transition(case=case, user=world.am_a, name="submit")
    assert CaseForecast.objects.get(case=case).stage == "branch_intake"
    from analytics.models import VisitFact

    assert VisitFact.objects.filter(case=case, stage="branch_intake", left_at__isnull=True).exists()


def test_drill_down_lists_show_the_forecast_of_open_cases(forecasts, world) -> None:
    from analytics.selectors import drill_down, drill_table
    from tests.test_analytics_figures import MARCH

    facts_refresh(case_ids=[c.pk for c in forecasts.values()], now=h.NOW)
    title, rows, total = drill_down(
        user=world.approver, period=MARCH, params={"fig": "ageing", "stage": "head_office_approval"}, now=h.NOW
    )
    table = drill_table(title, rows)
    assert total == 1 and table.rows[0][0] == "H-3" and table.rows[0][-1] == dt.date(2025, 4, 8)


def test_case_lists_show_p85_and_at_risk_with_stage_and_holder(
    client, world, forecasts, django_assert_max_num_queries
) -> None:
    from django.utils import timezone

    client.force_login(world.approver)
    # The fixture's forecasts are made for NOW (26 Mar 2025): H-3's approval passed its P85.
    with django_assert_max_num_queries(40):
        html = client.get(reverse("case_list")).content.decode()
    assert "预计上线" in html
    row = html[html.index(">H-3<") :]
    row = row[: row.index("</tr>")]
    assert "P85 2025-04-08" in row and "延期风险" in row and "总行立项审批 · 分行审核" in row  # stage · who holds it
    # A case not at risk shows its P85 and no warning.
    CaseForecast.objects.filter(case=forecasts["c3"]).update(
        target_late=False, stage_late_at=timezone.now() + dt.timedelta(days=9)
    )
    row = client.get(reverse("case_list")).content.decode()
    row = row[row.index(">H-3<") :]
    row = row[: row.index("</tr>")]
    assert "P85 2025-04-08" in row and "延期风险" not in row
    # One query for the forecasts of the whole page, whatever its length.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("case_list"))
    assert sum("analytics_caseforecast" in q["sql"] for q in ctx.captured_queries) == 1


def test_the_queue_shows_the_same_forecast_cell_as_the_case_list(client, world, forecasts) -> None:
    """The dashboard's 轮到我办理 writes its forecast column in one pass (`{% forecast_cells %}`):
    for a case at risk and then not, the same cell as the case list's row."""
    from django.utils import timezone

    def cell(html: str) -> str:
        row = html[html.index(">H-3<") :]
        row = row[: row.index("</tr>")]
        return re.search(r'<td class="forecast-cell">.*?</td>', row, re.S).group(0)

    def cells() -> tuple[str, str]:
        # The case list as head office reads it; the queue of the supervisor H-3 waits on.
        client.force_login(world.approver)
        listed = cell(client.get(reverse("case_list")).content.decode())
        homes = []
        for who in (world.supervisor, world.supervisor_other):
            client.force_login(who)
            homes.append(client.get("/").content.decode())
        (home,) = [h for h in homes if ">H-3<" in h]
        return listed, cell(home)

    listed, queued = cells()
    assert "延期风险" in queued and queued == listed
    CaseForecast.objects.filter(case=forecasts["c3"]).update(
        target_late=False, stage_late_at=timezone.now() + dt.timedelta(days=9)
    )
    listed, queued = cells()
    assert "P85 2025-04-08" in queued and "延期风险" not in queued and queued == listed
