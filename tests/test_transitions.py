"""Every (transition, role) pair: allowed where domain.md allows it, refused otherwise."""

from __future__ import annotations

import pytest

from demo.counter_work import complete_counter_work, record_all_tests_passed
from onboarding import services
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.states import State
from tests.factories import fill_assessment, operator_people

# Written from domain.md, not read from the code: (source state, target, roles allowed, prep).
EXPECTED = {
    "submit": (State.DRAFT, State.BRANCH_INTAKE, {"account_manager", "enterprise_user"}, {}),
    "submit_for_approval": (State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL, {"account_manager"}, {"assessment": True}),
    "endorse": (State.HEAD_OFFICE_APPROVAL, State.HEAD_OFFICE_APPROVAL, {"branch_supervisor"}, {}),
    "approve": (State.HEAD_OFFICE_APPROVAL, State.TEST_PACKAGE_ISSUANCE, {"head_office_approver"}, {"endorsed": True}),
    "return_to_intake": (
        State.HEAD_OFFICE_APPROVAL,
        State.BRANCH_INTAKE,
        {"branch_supervisor", "head_office_approver"},
        {},
    ),
    "reject": (State.HEAD_OFFICE_APPROVAL, State.REJECTED, {"branch_supervisor", "head_office_approver"}, {}),
    "issue_test_package": (State.TEST_PACKAGE_ISSUANCE, State.JOINT_TESTING, {"tech_reviewer"}, {"package": True}),
    "accept_test_report": (State.JOINT_TESTING, State.UKEY_ISSUANCE, {"tech_reviewer"}, {"tests": True}),
    "return_to_test_package": (State.JOINT_TESTING, State.TEST_PACKAGE_ISSUANCE, {"tech_reviewer"}, {}),
    "complete_ukey_issuance": (
        State.UKEY_ISSUANCE,
        State.PRODUCTION_VERIFICATION,
        {"counter_checker"},
        {"prod_config": True},
    ),
    "go_live": (State.PRODUCTION_VERIFICATION, State.LIVE, {"account_manager"}, {"confirmed": True}),
    "suspend": (State.JOINT_TESTING, State.SUSPENDED, {"account_manager", "branch_supervisor"}, {}),
    "resume": (State.SUSPENDED, State.JOINT_TESTING, {"account_manager", "branch_supervisor"}, {}),
    "withdraw": (State.BRANCH_INTAKE, State.WITHDRAWN, {"account_manager", "enterprise_user"}, {}),
}
ROLES = [
    "account_manager",
    "branch_supervisor",
    "head_office_approver",
    "tech_reviewer",
    "counter_maker",
    "counter_checker",
    "auditor",
    "enterprise_user",
]


def test_table_covers_every_transition_of_the_model():
    names = {t.name for t in OnboardingCase._meta.get_field("state").get_all_transitions(OnboardingCase)}
    assert names == set(EXPECTED)


def _prepare(world, name):
    source, _target, _roles, prep = EXPECTED[name]
    from onboarding import services as s

    if name == "approve":
        return world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    case = world.case(source)
    if prep.get("assessment"):
        fill_assessment(case, world.am_a)
    if prep.get("package"):
        s.test_package_record(
            case=case,
            user=world.tech,
            test_endpoint="https://t.example",
            test_accounts="1",
            test_certificate_ref="T-1",
            doc_version="v1",
        )
    if prep.get("tests"):
        record_all_tests_passed(case, world.tech)
    if prep.get("prod_config"):
        s.production_config_record(
            case=case,
            user=world.tech,
            production_endpoint="https://p.example",
            certificate_serial="P-1",
            production_accounts=case.enterprise.accounts.first().account_number,
        )
        complete_counter_work(
            case, maker=world.maker, checker=world.checker, people=operator_people(case.pk), serial_prefix="KBT"
        )
    if prep.get("confirmed"):
        s.customer_confirm_production(case=case, user=world.customer_x)
    return OnboardingCase.objects.get(pk=case.pk)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_transition_role_matrix(world, name, role):
    case = _prepare(world, name)
    _source, target, allowed_roles, _prep = EXPECTED[name]
    actor = world.actors[role]
    events_before = CaseEvent.objects.filter(case=case, kind="transition").count()
    if role in allowed_roles:
        moved = services.case_transition(case=case, user=actor, name=name, reason="测试原因")
        assert moved.state == target
        event = CaseEvent.objects.filter(case=case, kind="transition").latest("pk")
        assert (event.name, event.actor, event.to_state, event.reason) == (name, actor, target, "测试原因")
    else:
        with pytest.raises(services.CaseError) as exc:
            services.case_transition(case=case, user=actor, name=name, reason="测试原因")
        assert "仅限" in exc.value.message
        assert OnboardingCase.objects.get(pk=case.pk).state == case.state
    assert CaseEvent.objects.filter(case=case, kind="transition").count() == events_before + (role in allowed_roles)
