"""Each stage guard refuses with the missing item named, and lets the case through once it is there."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from onboarding import services
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.states import State
from tests.factories import case_company_set, company_update


def refused(case, user, name, reason=""):
    with pytest.raises(services.CaseError) as exc:
        services.case_transition(case=case, user=user, name=name, reason=reason)
    assert OnboardingCase.objects.get(pk=case.pk).state == case.state
    return " ".join([exc.value.message, *exc.value.problems])


def test_submit_needs_a_module(world):
    case = services.case_create(user=world.am_a, enterprise=world.company_x, modules=[])
    assert "未选择功能模块" in refused(case, world.am_a, "submit")
    OnboardingCase.objects.filter(pk=case.pk).update(modules=["account_query"])
    case.refresh_from_db()
    assert services.case_transition(case=case, user=world.am_a, name="submit").state == State.BRANCH_INTAKE


def test_submit_needs_a_settlement_account(world):
    case = case_company_set(world.case(), accounts=[])
    assert "至少登记1个结算账户" in refused(case, world.am_a, "submit")


def test_submit_needs_a_valid_authorisation_letter_when_handler_is_not_legal_rep(world):
    case = world.case()
    ent = case.enterprise
    company_update(
        ent,
        handler_id_number="11010519491231002X",
        authorisation_valid_from=timezone.localdate() - dt.timedelta(days=30),
        authorisation_valid_until=timezone.localdate() - dt.timedelta(days=1),
        authorisation_covers_ebanking=False,
    )
    case.refresh_from_db()
    message = refused(case, world.am_a, "submit")
    assert "不在有效期内" in message
    assert "电子银行业务" in message
    company_update(
        ent, authorisation_valid_until=timezone.localdate() + dt.timedelta(days=30), authorisation_covers_ebanking=True
    )
    case.refresh_from_db()
    assert services.case_transition(case=case, user=world.am_a, name="submit").state == State.BRANCH_INTAKE


def test_submit_refuses_a_wrong_credit_code(world):
    case = world.case()
    uscc = case.enterprise.uscc
    case = case_company_set(case, uscc=uscc[:-1] + ("0" if uscc[-1] != "0" else "1"))
    assert "校验位不正确" in refused(case, world.am_a, "submit")


def test_submit_for_approval_needs_fee_and_risk_assessment(world):
    case = world.case(State.BRANCH_INTAKE)
    message = refused(case, world.am_a, "submit_for_approval")
    assert "费用评估" in message
    assert "风险评估" in message


def test_approve_needs_the_branch_endorsement(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    assert "缺少分行审核" in refused(case, world.approver, "approve")


def test_endorse_only_once_per_visit(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    assert "已审核" in refused(case, world.supervisor, "endorse")


def test_endorsement_of_an_earlier_visit_does_not_count(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    case = services.case_transition(case=case, user=world.approver, name="return_to_intake", reason="补充营业执照")
    case = services.case_transition(case=case, user=world.am_a, name="submit_for_approval")
    assert "缺少分行审核" in refused(case, world.approver, "approve")


def test_submitter_cannot_endorse_and_endorser_cannot_approve(world):
    both = world.am_a2
    both.groups.add(Group.objects.get(name="branch_supervisor"), Group.objects.get(name="head_office_approver"))
    both.branch = world.head_office
    both.save()
    case = world.case(State.BRANCH_INTAKE)
    from tests.factories import fill_assessment

    fill_assessment(case, world.am_a)
    case = services.case_transition(case=case, user=both, name="submit_for_approval")
    assert "提交人不能审批" in refused(case, both, "endorse")
    case = services.case_transition(case=case, user=world.supervisor, name="endorse")
    # A different person who gave the endorsement may not also approve.
    world.supervisor.groups.add(Group.objects.get(name="head_office_approver"))
    world.supervisor._role_cache = None
    assert "同一人不能既做分行审核又做总行审批" in refused(case, world.supervisor, "approve")
    assert "提交人不能审批" in refused(case, both, "approve")
    assert services.case_transition(case=case, user=world.approver, name="approve").state == State.TEST_PACKAGE_ISSUANCE


def test_test_package_must_be_complete(world):
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    assert "测试包尚未登记" in refused(case, world.tech, "issue_test_package")
    services.test_package_record(case=case, user=world.tech, test_endpoint="https://t.example", test_accounts="")
    message = refused(case, world.tech, "issue_test_package")
    assert "测试账号" in message
    assert "测试证书编号" in message


def test_every_requested_module_must_pass(world):
    # Each module's test cases (onboarding.states.TEST_CASES) all need a pass.
    case = world.case(State.JOINT_TESTING)
    for code in ("balance", "statement", "fetch"):
        module = "reconciliation" if code == "fetch" else "account_query"
        services.test_result_record(
            case=case, user=world.tech, module=module, test_case=code, passed=True, evidence="T"
        )
    services.test_result_record(case=case, user=world.tech, module="reconciliation", test_case="feedback", passed=False)
    assert "自动对账" in refused(case, world.tech, "accept_test_report")
    services.test_result_record(
        case=case, user=world.tech, module="reconciliation", test_case="feedback", passed=True, evidence="T"
    )
    assert services.case_transition(case=case, user=world.tech, name="accept_test_report").state == State.UKEY_ISSUANCE


def test_production_configuration_must_exist_and_differ_from_test(world):
    case = world.case(State.UKEY_ISSUANCE)
    assert "生产配置尚未下发" in refused(case, world.checker, "complete_ukey_issuance")
    with pytest.raises(services.CaseError) as exc:
        services.production_config_record(
            case=case,
            user=world.tech,
            production_endpoint="https://test.bank.example/h2h/",
            certificate_serial="TEST-1",
        )
    assert "生产地址与测试地址相同" in " ".join(exc.value.problems)
    assert "生产证书与测试证书相同" in " ".join(exc.value.problems)
    assert not hasattr(OnboardingCase.objects.get(pk=case.pk), "production_config")


def test_go_live_needs_the_customer_confirmation(world):
    case = world.case(State.PRODUCTION_VERIFICATION)
    assert "客户尚未确认" in refused(case, world.am_a, "go_live")
    with pytest.raises(services.CaseError):
        services.customer_confirm_production(case=case, user=world.customer_y)
    services.customer_confirm_production(case=case, user=world.customer_x)
    assert services.case_transition(case=case, user=world.am_a, name="go_live").state == State.LIVE


@pytest.mark.parametrize(
    ("state", "name", "user"),
    [
        (State.HEAD_OFFICE_APPROVAL, "return_to_intake", "approver"),
        (State.HEAD_OFFICE_APPROVAL, "reject", "approver"),
        (State.JOINT_TESTING, "return_to_test_package", "tech"),
        (State.BRANCH_INTAKE, "suspend", "am_a"),
        (State.BRANCH_INTAKE, "withdraw", "am_a"),
    ],
)
def test_reason_required(world, state, name, user):
    case = world.case(state)
    assert "须填写原因" in refused(case, getattr(world, user), name, reason="   ")
    moved = services.case_transition(case=case, user=getattr(world, user), name=name, reason="资料不全")
    assert moved.events.latest("pk").reason == "资料不全"


def test_resume_returns_to_the_stage_it_left_and_keeps_the_visit(world):
    case = world.case(State.BRANCH_INTAKE)
    visit = case.current_visit
    case = services.case_transition(case=case, user=world.am_a, name="suspend", reason="客户要求暂停")
    assert case.state == State.SUSPENDED
    case = services.case_transition(case=case, user=world.am_a, name="resume")
    assert case.state == State.BRANCH_INTAKE
    assert case.current_visit_id == visit.pk


def test_terminal_states_allow_nothing(world):
    case = world.case(State.REJECTED)
    assert services.case_transition_options(case=case, user=world.am_a) == []
    assert "不能执行此操作" in refused(case, world.am_a, "withdraw", reason="x")


def test_a_stale_page_gets_a_conflict_not_a_second_transition(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    seen_version = case.version
    services.case_transition(case=case, user=world.supervisor, name="endorse", expected_version=seen_version)
    with pytest.raises(services.CaseConflict):
        services.case_transition(
            case=case, user=world.approver, name="reject", reason="x", expected_version=seen_version
        )
    assert CaseEvent.objects.filter(case=case, name="reject").count() == 0
