"""Review from both sides, and the stage guards that read the checklist."""

from __future__ import annotations

import io

import pytest

from documents import checklist, services
from documents.samples import sample_pdf
from onboarding import services as case_services
from onboarding.models import CaseEvent
from onboarding.services import CaseError
from onboarding.states import State
from tests.factories import enterprise, fill_assessment, provide_documents, user


def upload(case, user, kind="business_licence", title="x"):
    return services.document_upload(
        case=case, user=user, kind=kind, upload=io.BytesIO(sample_pdf(title)), name=f"{kind}.pdf"
    )


@pytest.fixture
def intake_case(world):
    return world.case(State.BRANCH_INTAKE, documents=False)


def test_account_manager_accepts_the_customers_upload(world, intake_case):
    version = upload(intake_case, world.customer_x)
    reviewed = services.document_review(version=version, user=world.am_a, accept=True)
    assert (reviewed.decision, reviewed.reviewed_by) == ("accepted", world.am_a)
    item = next(i for i in checklist.case_checklist(intake_case) if i.kind == "business_licence")
    assert item.status == checklist.Status.ACCEPTED
    assert CaseEvent.objects.filter(name="document_accept", actor=world.am_a).exists()


def test_reject_needs_a_reason_and_shows_it(world, intake_case):
    version = upload(intake_case, world.customer_x)
    with pytest.raises(CaseError) as exc:
        services.document_review(version=version, user=world.am_a, accept=False, reason="  ")
    assert "须填写原因" in exc.value.message
    services.document_review(version=version, user=world.am_a, accept=False, reason="未加盖公章")
    item = next(i for i in checklist.case_checklist(intake_case) if i.kind == "business_licence")
    assert item.status == checklist.Status.REJECTED
    assert item.latest.decision_reason == "未加盖公章"


def test_uploader_cannot_review_own_upload(world, intake_case):
    version = upload(intake_case, world.am_a)
    with pytest.raises(CaseError) as exc:
        services.document_review(version=version, user=world.am_a, accept=True)
    assert "不能审核自己上传的文件" in exc.value.message
    # A colleague of the same branch may.
    assert services.document_review(version=version, user=world.am_a2, accept=True).decision == "accepted"


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("customer_x", "仅限"),  # the customer never reviews
        ("tech", "仅限"),  # intake papers are the branch's
        ("auditor", "仅限"),
        ("am_b", "管辖范围"),  # another branch
        ("supervisor_other", "管辖范围"),  # the other tier-1 branch
    ],
)
def test_who_may_not_review_intake_documents(world, intake_case, who, message):
    version = upload(intake_case, world.customer_x)
    with pytest.raises(CaseError) as exc:
        services.document_review(version=version, user=getattr(world, who), accept=True)
    assert message in exc.value.message
    version.refresh_from_db()
    assert version.decision == ""


def test_branch_supervisor_may_review_intake_documents(world, intake_case):
    version = upload(intake_case, world.am_a)
    assert services.document_review(version=version, user=world.supervisor, accept=True).decision == "accepted"


def test_test_report_is_reviewed_by_head_office_tech_only(world):
    case = world.case(State.JOINT_TESTING, documents=False)
    version = upload(case, world.customer_x, kind="test_report")
    with pytest.raises(CaseError) as exc:
        services.document_review(version=version, user=world.am_a, accept=True)
    assert "仅限" in exc.value.message
    assert services.document_review(version=version, user=world.tech, accept=True).decision == "accepted"


def test_only_the_latest_undecided_version_is_reviewed(world, intake_case):
    v1 = upload(intake_case, world.customer_x, title="1")
    v2 = upload(intake_case, world.customer_x, title="2")
    with pytest.raises(CaseError) as exc:
        services.document_review(version=v1, user=world.am_a, accept=True)
    assert "更新的版本" in exc.value.message
    services.document_review(version=v2, user=world.am_a, accept=True)
    with pytest.raises(CaseError) as exc:
        services.document_review(version=v2, user=world.am_a2, accept=False, reason="改判")
    assert "已审核" in exc.value.message


# --- checklist and guards -------------------------------------------------------------------


def test_checklist_asks_for_the_authorisation_letter_only_when_the_handler_is_not_the_legal_rep(world):
    own = {r.kind for r in checklist.requirements(world.case(State.DRAFT))}
    assert "authorisation_letter" not in own
    company = enterprise(world.branch_a, handler_is_rep=False)
    case = case_services.case_create(user=world.am_a, enterprise=company, modules=["account_query"])
    kinds = [r.kind for r in checklist.requirements(case) if r.stage == State.BRANCH_INTAKE and r.required]
    assert kinds == [
        "application_form",
        "service_agreement",
        "business_licence",
        "legal_rep_id",
        "handler_id",
        "authorisation_letter",
    ]


def test_intake_cannot_be_left_until_every_intake_document_is_accepted(world, intake_case):
    fill_assessment(intake_case, world.am_a)
    with pytest.raises(CaseError) as exc:
        case_services.case_transition(case=intake_case, user=world.am_a, name="submit_for_approval")
    problems = " ".join(exc.value.problems)
    for label in ("银企直联申请表", "业务合作协议", "营业执照复印件", "法定代表人身份证复印件", "经办人身份证复印件"):
        assert label in problems
    # Uploaded but not yet accepted is not enough.
    for kind in ("application_form", "service_agreement", "business_licence", "legal_rep_id", "handler_id"):
        upload(intake_case, world.customer_x, kind=kind)
    with pytest.raises(CaseError) as exc:
        case_services.case_transition(case=intake_case, user=world.am_a, name="submit_for_approval")
    assert "经办人身份证复印件" in " ".join(exc.value.problems)
    provide_documents(intake_case, State.BRANCH_INTAKE, uploader=world.customer_x, reviewer=world.am_a)
    moved = case_services.case_transition(case=intake_case, user=world.am_a, name="submit_for_approval")
    assert moved.state == State.HEAD_OFFICE_APPROVAL


def test_a_rejected_document_holds_the_stage(world, intake_case):
    fill_assessment(intake_case, world.am_a)
    provide_documents(intake_case, State.BRANCH_INTAKE, uploader=world.customer_x, reviewer=world.am_a)
    v = upload(intake_case, world.customer_x, kind="legal_rep_id", title="again")
    services.document_review(version=v, user=world.am_a, accept=False, reason="已过期")
    options = case_services.case_transition_options(case=intake_case, user=world.am_a)
    option = next(o for o in options if o.name == "submit_for_approval")
    assert not option.allowed
    assert "法定代表人身份证复印件" in " ".join(option.problems)


def test_authorisation_letter_holds_intake_when_required(world):
    company = enterprise(world.branch_a, handler_is_rep=False)
    user("customer_z", "enterprise_user", enterprise=company)
    case = world.case(State.BRANCH_INTAKE, company=company, documents=False)
    fill_assessment(case, world.am_a)
    for kind in ("application_form", "service_agreement", "business_licence", "legal_rep_id", "handler_id"):
        v = upload(case, world.am_a2, kind=kind)
        services.document_review(version=v, user=world.am_a, accept=True)
    with pytest.raises(CaseError) as exc:
        case_services.case_transition(case=case, user=world.am_a, name="submit_for_approval")
    assert exc.value.problems == ["以下文件尚未审核通过:法人授权委托书"]


def test_joint_testing_needs_the_test_report_accepted(world):
    case = world.case(State.JOINT_TESTING, documents=False)
    from tests.factories import record_all_tests_passed

    record_all_tests_passed(case, world.tech)
    with pytest.raises(CaseError) as exc:
        case_services.case_transition(case=case, user=world.tech, name="accept_test_report")
    assert "测试报告" in " ".join(exc.value.problems)
    v = upload(case, world.customer_x, kind="test_report")
    services.document_review(version=v, user=world.tech, accept=True)
    assert case_services.case_transition(case=case, user=world.tech, name="accept_test_report").state == (
        State.UKEY_ISSUANCE
    )
