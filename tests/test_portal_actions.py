"""The action list follows the case: items appear in the state that owes them and go away."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from freezegun import freeze_time

from onboarding import services
from onboarding.models import OnboardingCase
from onboarding.states import Module, State
from portal.actions import ActionItem, Urgency, actions_for, register_action_provider, unregister_action_provider


def keys(case, user, prefix=""):
    return [a.key for a in actions_for(case=case, user=user) if a.required and a.key.startswith(prefix)]


def test_a_draft_asks_the_customer_to_submit(world):
    case = world.case(State.DRAFT)
    assert keys(case, world.customer_x) == ["submit_draft"]
    moved = services.case_transition(case=case, user=world.customer_x, name="submit")
    assert "submit_draft" not in keys(moved, world.customer_x)
    # In intake the company owes its documents, nothing else.
    assert all(k.startswith("document:") for k in keys(moved, world.customer_x))


@pytest.mark.parametrize(
    "state", [State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL, State.TEST_PACKAGE_ISSUANCE, State.UKEY_ISSUANCE]
)
def test_nothing_is_owed_while_the_bank_holds_the_ball(world, state):
    case = world.case(state)
    assert keys(case, world.customer_x) == []
    assert [a.key for a in actions_for(case=case, user=world.customer_x)] == ["withdraw"]


def test_joint_testing_lists_each_module_until_it_passes(world):
    # The factory records passes on the way; start from a fresh joint-testing visit instead.
    case = _fresh_joint_testing(world)
    assert keys(case, world.customer_x, "test_result:") == [
        f"test_result:{Module.ACCOUNT_QUERY}",
        f"test_result:{Module.RECONCILIATION}",
    ]
    pass_all(case, world.customer_x, Module.ACCOUNT_QUERY)
    # One test case of a module passing is not the module passing.
    record(case, world.customer_x, Module.RECONCILIATION, "fetch", passed=True)
    assert keys(case, world.customer_x, "test_result:") == [f"test_result:{Module.RECONCILIATION}"]
    record(case, world.customer_x, Module.RECONCILIATION, "feedback", passed=False)
    items = [a for a in actions_for(case=case, user=world.customer_x) if a.key.startswith("test_result:")]
    assert [a.key for a in items] == [f"test_result:{Module.RECONCILIATION}"]
    assert "重新测试" in items[0].text
    pass_all(case, world.customer_x, Module.RECONCILIATION)
    assert keys(case, world.customer_x, "test_result:") == []
    # What is left is the test report.
    assert keys(case, world.customer_x) == ["document:test_report"]


def record(case, user, module, code, *, passed):
    services.test_result_record(
        case=case, user=user, module=module, test_case=code, passed=passed, evidence="流水 0001" if passed else ""
    )


def pass_all(case, user, module):
    from onboarding.states import TEST_CASES

    for code, _label in TEST_CASES[module]:
        record(case, user, module, code, passed=True)


def _fresh_joint_testing(world):
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    services.test_package_record(
        case=case,
        user=world.tech,
        test_endpoint="https://t.example",
        test_accounts="1",
        test_certificate_ref="T-1",
        doc_version="v1",
    )
    return services.case_transition(case=case, user=world.tech, name="issue_test_package")


def test_production_verification_asks_for_confirmation_once(world):
    case = world.case(State.PRODUCTION_VERIFICATION)
    assert keys(case, world.customer_x) == ["confirm_production"]
    services.customer_confirm_production(case=case, user=world.customer_x)
    case = OnboardingCase.objects.get(pk=case.pk)
    assert keys(case, world.customer_x) == []


@pytest.mark.parametrize("state", [State.LIVE, State.WITHDRAWN, State.REJECTED])
def test_a_closed_case_has_no_items_at_all(world, state):
    case = world.case(state)
    assert actions_for(case=case, user=world.customer_x) == []


def test_items_are_for_the_case_company_only(world):
    case = world.case(State.DRAFT)
    assert actions_for(case=case, user=world.customer_y) == []
    assert actions_for(case=case, user=world.am_a) == []


def test_an_overdue_stage_makes_its_items_overdue(world):
    case = world.case(State.PRODUCTION_VERIFICATION)
    (item,) = [a for a in actions_for(case=case, user=world.customer_x) if a.required]
    assert item.urgency == Urgency.NORMAL and item.due_at == case.current_visit.due_at
    with freeze_time(case.current_visit.due_at - dt.timedelta(hours=1)):
        (item,) = [a for a in actions_for(case=case, user=world.customer_x) if a.required]
        assert item.urgency == Urgency.SOON
    with freeze_time(case.current_visit.due_at + dt.timedelta(hours=1)):
        items = actions_for(case=case, user=world.customer_x)
        assert [a.urgency for a in items] == [Urgency.OVERDUE, Urgency.OPTIONAL]


def test_another_app_adds_its_items_through_the_registry(world):
    def checklist(case, user):
        if case.state != State.BRANCH_INTAKE:
            return []
        return [ActionItem(key="document:licence", text="上传营业执照", url="/x/", urgency=Urgency.OVERDUE)]

    register_action_provider(checklist)
    register_action_provider(checklist)  # idempotent
    try:
        case = world.case(State.BRANCH_INTAKE)
        assert keys(case, world.customer_x) == ["document:licence"]
        assert keys(world.case(State.DRAFT), world.customer_x) == ["submit_draft"]
    finally:
        unregister_action_provider(checklist)
    assert keys(case, world.customer_x) == []


def test_the_portal_pages_show_the_items_and_drop_them(world, client):
    case = world.case(State.PRODUCTION_VERIFICATION)
    client.force_login(world.customer_x)
    for url in ("/portal/", f"/portal/cases/{case.public_id}/"):
        assert 'data-key="confirm_production"' in client.get(url).content.decode()
    response = client.post(
        f"/portal/cases/{case.public_id}/confirm-production/", {"transactions_done": "on", "reconciled": "on"}
    )
    assert response.status_code == 302
    for url in ("/portal/", f"/portal/cases/{case.public_id}/"):
        assert 'data-key="confirm_production"' not in client.get(url).content.decode()
    case.refresh_from_db()
    assert case.customer_confirmed_by == world.customer_x
    assert timezone.now() - case.customer_confirmed_at < dt.timedelta(minutes=1)


def test_confirmation_needs_both_ticks(world, client):
    case = world.case(State.PRODUCTION_VERIFICATION)
    client.force_login(world.customer_x)
    client.post(f"/portal/cases/{case.public_id}/confirm-production/", {"transactions_done": "on"})
    case.refresh_from_db()
    assert case.customer_confirmed_at is None


def test_recording_results_through_the_page(world, client):
    case = _fresh_joint_testing(world)
    client.force_login(world.customer_x)
    url = f"/portal/cases/{case.public_id}/test-result/"
    # The matrix: both account-query rows at once; a module not requested is no row of it.
    matrix = {
        "version": case.version,
        f"result-{Module.PAYROLL}:payroll": "pass",
        f"evidence-{Module.PAYROLL}:payroll": "x",
    }
    for code in ("balance", "statement"):
        matrix |= {
            f"result-{Module.ACCOUNT_QUERY}:{code}": "pass",
            f"evidence-{Module.ACCOUNT_QUERY}:{code}": "流水 0001",
        }
    client.post(url, matrix)
    case.refresh_from_db()
    # A pass without evidence is refused.
    client.post(url, {"version": case.version, f"result-{Module.RECONCILIATION}:fetch": "pass"})
    assert list(case.test_results.values_list("module", "test_case", "passed", "recorded_by")) == [
        (Module.ACCOUNT_QUERY, "balance", True, world.customer_x.pk),
        (Module.ACCOUNT_QUERY, "statement", True, world.customer_x.pk),
    ]
    page = client.get(f"/portal/cases/{case.public_id}/").content.decode()
    assert f'data-key="test_result:{Module.RECONCILIATION}"' in page
    assert f'data-key="test_result:{Module.ACCOUNT_QUERY}"' not in page


def test_the_staff_case_page_is_unaffected_by_customer_items(world, client):
    case = world.case(State.DRAFT)
    client.force_login(world.am_a)
    page = client.get(f"/cases/{case.public_id}/").content.decode()
    assert 'data-key="submit_draft"' not in page


def test_documents_the_company_owes_appear_until_uploaded_and_a_rejection_shows_its_reason(world, client):
    from documents import services as doc_services
    from documents.samples import sample_pdf

    case = world.case(State.BRANCH_INTAKE, documents=False)
    owed = [k for k in keys(case, world.customer_x) if k.startswith("document:")]
    assert owed == [
        "document:application_form",
        "document:service_agreement",
        "document:business_licence",
        "document:legal_rep_id",
        "document:handler_id",
    ]
    texts = {a.key: a.text for a in actions_for(case=case, user=world.customer_x)}
    assert "签字盖章后上传" in texts["document:application_form"]
    import io

    version = doc_services.document_upload(
        case=case, user=world.customer_x, kind="business_licence", upload=io.BytesIO(sample_pdf()), name="营业执照.pdf"
    )
    assert "document:business_licence" not in keys(case, world.customer_x)  # waiting for the bank
    doc_services.document_review(version=version, user=world.am_a, accept=False, reason="复印件未加盖公章")
    item = next(a for a in actions_for(case=case, user=world.customer_x) if a.key == "document:business_licence")
    assert "重新上传" in item.text and "复印件未加盖公章" in item.detail
    # The bank's staff and other companies are not offered the company's items.
    assert not [k for k in keys(case, world.customer_y) if k.startswith("document:")]
    client.force_login(world.customer_x)
    page = client.get(f"/portal/cases/{case.public_id}/").content.decode()
    assert "复印件未加盖公章" in page and 'id="documents"' in page
