"""Head-office approval needs two approvals: branch endorsement, then head office; neither by the
submitter, not both by one person, and only approvals of the current stage visit count."""

from __future__ import annotations

import pytest

from branches.roles import Role
from onboarding import services
from onboarding.models import Approval
from onboarding.states import State
from tests.factories import fill_assessment, user


def _refused(case, who, name, text):
    with pytest.raises(services.CaseError) as exc:
        services.case_transition(case=case, user=who, name=name)
    assert text in exc.value.message
    return exc.value


def test_submitter_cannot_endorse_but_another_supervisor_can(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    assert case.submitted_by == world.am_a
    world.am_a.groups.add(world.supervisor.groups.model.objects.get(name=Role.BRANCH_SUPERVISOR))
    world.am_a._role_cache = None
    _refused(case, world.am_a, "endorse", "提交人")
    assert not Approval.objects.filter(case=case).exists()
    case = services.case_transition(case=case, user=world.supervisor, name="endorse")
    assert Approval.objects.get(case=case, level=Approval.Level.BRANCH).decided_by == world.supervisor


def test_submitter_cannot_give_the_head_office_approval_but_another_approver_can(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    world.am_a.groups.add(world.supervisor.groups.model.objects.get(name=Role.HEAD_OFFICE_APPROVER))
    world.am_a._role_cache = None
    _refused(case, world.am_a, "approve", "提交人")
    case = services.case_transition(case=case, user=world.approver, name="approve")
    assert case.state == State.TEST_PACKAGE_ISSUANCE


def test_one_person_holding_both_roles_cannot_give_both_approvals(world):
    both = user("both", Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, branch=world.head_office)
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    case = services.case_transition(case=case, user=both, name="endorse")
    _refused(case, both, "approve", "同一人")
    assert case.state == State.HEAD_OFFICE_APPROVAL
    # A different head-office approver completes it.
    case = services.case_transition(case=case, user=world.approver, name="approve")
    levels = dict(Approval.objects.filter(case=case).values_list("level", "decided_by"))
    assert levels == {Approval.Level.BRANCH: both.pk, Approval.Level.HEAD_OFFICE: world.approver.pk}


def test_approval_without_an_endorsement_is_refused(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    with pytest.raises(services.CaseError) as exc:
        services.case_transition(case=case, user=world.approver, name="approve")
    assert any("分行审核" in p for p in exc.value.problems)


def test_an_endorsement_from_a_previous_visit_does_not_count(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    case = services.case_transition(case=case, user=world.approver, name="return_to_intake", reason="补充材料")
    fill_assessment(case, world.am_a)
    case = services.case_transition(case=case, user=world.am_a, name="submit_for_approval")
    assert case.current_endorsement() is None
    with pytest.raises(services.CaseError) as exc:
        services.case_transition(case=case, user=world.approver, name="approve")
    assert any("分行审核" in p for p in exc.value.problems)
    # The supervisor endorses again on this visit; now approval goes through.
    case = services.case_transition(case=case, user=world.supervisor, name="endorse")
    case = services.case_transition(case=case, user=world.approver, name="approve")
    assert case.state == State.TEST_PACKAGE_ISSUANCE
    assert Approval.objects.filter(case=case, level=Approval.Level.BRANCH).count() == 2


def test_previous_visit_endorser_may_approve_after_someone_else_endorsed_this_visit(world):
    both = user("both", Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, branch=world.head_office)
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    case = services.case_transition(case=case, user=both, name="endorse")
    case = services.case_transition(case=case, user=world.approver, name="return_to_intake", reason="补充")
    fill_assessment(case, world.am_a)
    case = services.case_transition(case=case, user=world.am_a, name="submit_for_approval")
    case = services.case_transition(case=case, user=world.supervisor, name="endorse")
    case = services.case_transition(case=case, user=both, name="approve")
    assert case.state == State.TEST_PACKAGE_ISSUANCE


def test_endorsement_is_offered_once_per_visit(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    other = user("sup2", Role.BRANCH_SUPERVISOR, branch=world.tier1)
    with pytest.raises(services.CaseError) as exc:
        services.case_transition(case=case, user=other, name="endorse")
    assert any("已审核" in p for p in exc.value.problems)
