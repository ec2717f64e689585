"""The facts read what the real services write: visits, pauses and the transition that ended a visit."""

from __future__ import annotations

from freezegun import freeze_time

from analytics.facts import facts_refresh
from analytics.models import VisitFact
from onboarding import services
from onboarding.states import State
from tests import analytics_history as h
from tests.factories import fill_assessment


def test_a_case_walked_through_the_services(world) -> None:
    with freeze_time(h.at(3)):  # Mon 3 Mar 2025 09:00
        case = world.case(State.BRANCH_INTAKE)
    with freeze_time(h.at(4)):
        fill_assessment(case, world.am_a)
        case = services.case_transition(case=case, user=world.am_a, name="submit_for_approval")
    with freeze_time(h.at(5)):
        case = services.case_transition(case=case, user=world.am_a, name="suspend", reason="客户内部调整")
    with freeze_time(h.at(7)):  # Fri: two working days suspended
        case = services.case_transition(case=case, user=world.am_a, name="resume")
    with freeze_time(h.at(10)):  # Mon
        case = services.case_transition(case=case, user=world.am_a, name="suspend", reason="客户暂缓")
    with freeze_time(h.at(11)):
        case = services.case_transition(case=case, user=world.am_a, name="withdraw", reason="客户撤回")
    facts_refresh(case_ids=[case.pk], now=h.NOW)
    intake = VisitFact.objects.get(case=case, stage=State.BRANCH_INTAKE)
    assert (intake.tenths, intake.closed_with, intake.closed_by) == (10, "submit_for_approval", world.am_a)
    approval = VisitFact.objects.get(case=case, stage=State.HEAD_OFFICE_APPROVAL)
    # 4 Mar → 11 Mar is 5 working days; suspended 5→7 Mar (2) and 10→11 Mar (1): 2.0 count.
    assert approval.tenths == 20
    assert approval.closed_with == "withdraw" and approval.within_sla is True
    assert approval.case_started_at == h.at(3)
