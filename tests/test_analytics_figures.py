"""Every cockpit figure against the fixed history of tests/analytics_history.py, computed by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import selectors
from analytics.facts import facts_refresh
from analytics.models import VisitFact
from analytics.selectors import Period
from tests import analytics_history as h

MARCH = Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))


@pytest.fixture
def history(world):
    cases = h.build(world)
    facts_refresh(case_ids=[c.pk for c in cases.values()], now=h.NOW)
    return cases


def test_working_time_per_visit_follows_the_calendar_and_leaves_out_suspensions(history) -> None:
    days = {(f.case.reference, f.stage, f.first_visit): f.tenths / 10 for f in VisitFact.objects.select_related("case")}
    assert days[("H-1", "branch_intake", True)] == 2.0
    assert days[("H-1", "test_package_issuance", True)] == 1.5  # 2.5 working days less 1.0 suspended
    assert days[("H-3", "branch_intake", True)] == 8.0  # Tue to Fri of the next week
    assert days[("H-2", "branch_intake", False)] == 1.0  # the second visit, after the return
    joint = VisitFact.objects.get(case=history["c1"], stage="joint_testing")
    # The customer tests until its last result (Fri 21:00 → Wed 21:00), the bank accepts after.
    assert (joint.customer_seconds / 86400, joint.bank_seconds / 86400) == (3.0, 2.0)
    approval = VisitFact.objects.get(case=history["c1"], stage="head_office_approval")
    assert approval.closed_by == history["c1"].events.get(name="approve").actor
    assert approval.within_sla is True


def test_cycle_time_percentiles_per_stage_branch_reviewer_and_module_set(history, world) -> None:
    t = selectors.cockpit(user=world.approver, period=MARCH, now=h.NOW)
    # Intake: 1.0, 2.0, 5.0, 8.0 → P50 = 2nd value, P85 = ceil(3.4) = 4th value.
    assert t["cycle_stage"].rows[0] == ["分支行受理", 4, 2.0, 8.0]
    # Approval: 1.0 (returned), 5.0, 5.0.
    assert t["cycle_stage"].rows[1] == ["总行立项审批", 3, 5.0, 5.0]
    by_branch = {(r[0], r[1]): r[2:] for r in t["cycle_branch"].rows}
    assert by_branch[("分支行受理", "A机构")] == [3, 2.0, 5.0]
    assert by_branch[("分支行受理", "B机构")] == [1, 8.0, 8.0]
    by_reviewer = {(r[0], r[1]): r[2:] for r in t["cycle_reviewer"].rows}
    assert by_reviewer[("总行立项审批", str(world.approver))] == [2, 5.0, 5.0]
    assert by_reviewer[("总行立项审批", str(world.supervisor))] == [1, 1.0, 1.0]
    by_modules = {(r[0], r[1]): r[2:] for r in t["cycle_modules"].rows}
    assert by_modules[("分支行受理", "账户查询+自动对账")] == [4, 2.0, 8.0]


def test_ball_in_court_and_sla_compliance(history, world) -> None:
    t = selectors.cockpit(user=world.approver, period=MARCH, now=h.NOW)
    ball = {(r[0], r[1]): r[2:] for r in t["ball"].rows}
    assert ball[("联调测试", "全部")] == [2.0, 3.0, 60.0]
    assert ball[("分支行受理", "全部")] == [16.0, 0.0, 0.0]
    sla = {(r[0], r[1]): r[2:] for r in t["sla"].rows}
    # Intake (5 days): 2.0, 5.0, 1.0 within; 8.0 over.
    assert sla[("分支行受理", "全部")] == [4, 3, 1, 75.0]
    assert sla[("分支行受理", "A机构")] == [3, 3, 0, 100.0]
    assert sla[("分支行受理", "B机构")] == [1, 0, 1, 0.0]
    assert sla[("测试包下发", "全部")] == [1, 1, 0, 100.0]  # 1.5 of 3


def test_rework_flow_funnel_and_ageing(history, world) -> None:
    t = selectors.cockpit(user=world.approver, period=MARCH, now=h.NOW)
    flow = {(r[0], r[1]): (r[2], r[3]) for r in t["flow"].rows}
    assert flow[("分支行受理", "总行立项审批")] == (4, "")
    assert flow[("总行立项审批", "测试包下发")] == (2, "")
    assert flow[("总行立项审批", "退回补件→分支行受理")] == (1, "是")
    assert flow[("联调测试", "要求重测")] == (1, "是")
    assert flow[("测试包下发", "联调测试")] == (1, "")
    assert flow[("联调测试", "柜台UKey发放")] == (1, "")
    assert len(flow) == 6  # suspend, resume and endorse are not flows between stages
    assert [r[1] for r in t["funnel"].rows] == [3, 3, 2, 1, 1, 0, 0]
    ageing = {r[0]: r[1:] for r in t["ageing"].rows}
    # At Wed 26 Mar 09:00: approval 8.0 of 5 (1.6×), test package 5.0 of 3 (1.67×), UKey 2.5 of 5.
    assert ageing["总行立项审批"] == [0, 0, 1, 0]
    assert ageing["测试包下发"] == [0, 0, 1, 0]
    assert ageing["柜台UKey发放"] == [1, 0, 0, 0]


def test_figures_are_scoped_to_the_users_branch_subtree(history, world) -> None:
    mine = selectors.cockpit(user=world.supervisor, period=MARCH, now=h.NOW)
    assert mine["cycle_stage"].rows[0] == ["分支行受理", 3, 2.0, 5.0]  # branch A only
    theirs = selectors.cockpit(user=world.supervisor_other, period=MARCH, now=h.NOW)
    assert theirs["cycle_stage"].rows[0] == ["分支行受理", 1, 8.0, 8.0]
    assert [r[1] for r in theirs["funnel"].rows][:2] == [1, 1]
    nobody = selectors.cockpit(user=world.am_a, period=MARCH, now=h.NOW)
    assert nobody["cycle_stage"].rows == [] and nobody["flow"].rows == []


def test_each_figure_drills_down_to_the_cases_behind_it(history, world) -> None:
    def drill(**params):
        _title, found, _total = selectors.drill_down(user=world.approver, period=MARCH, params=params, now=h.NOW)
        return sorted((r.case.reference, r.days) for r in found)

    branch_a = world.branch_a.pk
    assert drill(fig="cycle", stage="branch_intake", branch=str(branch_a)) == [("H-1", 2.0), ("H-2", 1.0), ("H-2", 5.0)]
    assert drill(fig="sla", stage="branch_intake", breach="1") == [("H-3", 8.0)]
    assert drill(fig="flow", event="return_to_intake", source="head_office_approval") == [("H-2", None)]
    assert drill(fig="flow", event="retest_requested", source="joint_testing") == [("H-1", None)]
    assert [r for r, _d in drill(fig="funnel", stage="test_package_issuance")] == ["H-1", "H-2"]
    assert drill(fig="ageing", stage="head_office_approval", bucket="over15") == [("H-3", 8.0)]
    # Outside the subtree: nothing, whatever the parameters.
    _title, found, _total = selectors.drill_down(
        user=world.supervisor, period=MARCH, params={"fig": "sla", "stage": "branch_intake", "breach": "1"}, now=h.NOW
    )
    assert found == []


def test_the_cockpit_takes_the_same_number_of_queries_for_more_cases(history, world) -> None:
    def count() -> int:
        user = type(world.approver).objects.get(pk=world.approver.pk)  # roles not yet cached
        with CaptureQueriesContext(connection) as ctx:
            selectors.cockpit(user=user, period=MARCH, now=h.NOW)
        return len(ctx.captured_queries)

    few = count()
    more = []
    for i in range(3):
        built = h.build_case(
            world,
            ref=f"M-{i}",
            company=world.company_y,
            state="head_office_approval",
            visits=[("branch_intake", h.at(4), h.at(6), "bank"), ("head_office_approval", h.at(6), None, "bank")],
            events=[
                ("transition", "submit_for_approval", "branch_intake", "head_office_approval", h.at(6), world.am_b)
            ],
        )
        more.append(built.pk)
    facts_refresh(case_ids=more, now=h.NOW)
    assert count() == few
    assert few <= 15
