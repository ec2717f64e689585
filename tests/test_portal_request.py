"""A customer requests a direct link for its own company and submits it to the branch."""

from __future__ import annotations

import pytest

from onboarding.models import OnboardingCase
from onboarding.selectors import my_work
from onboarding.services import CaseError
from onboarding.states import Module, State
from portal.services import account_manager_pick, portal_case_request
from tests.factories import user


def form_data(world, **overrides):
    ent = world.company_x
    data = {
        "name": ent.name,
        "uscc": "IGNORED",
        "legal_rep_name": ent.legal_rep_name,
        "legal_rep_id_number": ent.legal_rep_id_number,
        "handler_name": ent.handler_name,
        "handler_id_number": ent.handler_id_number,
        "contact_name": "王会计",
        "contact_email": "finance@x.example",
        "acc-TOTAL_FORMS": "1",
        "acc-INITIAL_FORMS": "0",
        "acc-0-account_number": "622200001234567",
        "acc-0-account_name": ent.name,
        "modules": [Module.ACCOUNT_QUERY, Module.PAYMENT_SINGLE],
        "erp_system": "用友NC",
        "fee_amount": "1",
        "risk_level": "low",
    }
    data.update(overrides)
    return data


def test_request_and_submit_lands_in_the_account_managers_work(world, client):
    client.force_login(world.customer_x)
    response = client.post("/portal/cases/new/", form_data(world))
    case = OnboardingCase.objects.get(enterprise=world.company_x)
    assert response.status_code == 302 and response["Location"] == f"/portal/cases/{case.public_id}/"
    assert case.state == State.DRAFT
    assert case.modules == [Module.ACCOUNT_QUERY, Module.PAYMENT_SINGLE]
    assert case.erp_system == "用友NC"
    assert case.fee_amount is None and case.risk_level == ""  # the bank's fields are not the customer's
    assert case.account_manager == world.am_a
    assert case.created_by == world.customer_x
    world.company_x.refresh_from_db()
    assert world.company_x.contact_email == "finance@x.example"
    assert world.company_x.uscc != "IGNORED"

    client.post(f"/portal/cases/{case.public_id}/submit/", {"version": case.version})
    case.refresh_from_db()
    assert case.state == State.BRANCH_INTAKE
    assert case in my_work(user=world.am_a)
    assert case not in my_work(user=world.am_a2)


def test_invalid_company_data_is_shown_and_nothing_is_created(world, client):
    client.force_login(world.customer_x)
    response = client.post("/portal/cases/new/", form_data(world, legal_rep_id_number="110101199001011234", modules=[]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "has-error" in body
    assert not OnboardingCase.objects.exists()


def test_a_draft_that_fails_its_guard_cannot_be_submitted(world, client):
    case = world.case(State.DRAFT)
    OnboardingCase.objects.filter(pk=case.pk).update(modules=[])
    client.force_login(world.customer_x)
    page = client.get(f"/portal/cases/{case.public_id}/").content.decode()
    assert "No module requested" in page or "未选择功能模块" in page
    client.post(f"/portal/cases/{case.public_id}/submit/", {"version": case.version})
    case.refresh_from_db()
    assert case.state == State.DRAFT


def test_a_stale_page_cannot_submit(world, client):
    case = world.case(State.DRAFT)
    client.force_login(world.customer_x)
    client.post(f"/portal/cases/{case.public_id}/submit/", {"version": case.version + 1})
    case.refresh_from_db()
    assert case.state == State.DRAFT


def test_the_customer_edits_its_draft_but_not_after_submission(world, client):
    case = world.case(State.DRAFT)
    client.force_login(world.customer_x)
    data = form_data(world, erp_system="金蝶云", version=case.version)
    assert client.post(f"/portal/cases/{case.public_id}/edit/", data).status_code == 302
    case.refresh_from_db()
    assert case.erp_system == "金蝶云"
    client.post(f"/portal/cases/{case.public_id}/submit/", {"version": case.version})
    response = client.get(f"/portal/cases/{case.public_id}/edit/")
    assert response.status_code == 302


def test_the_customer_withdraws_with_a_reason(world, client):
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.customer_x)
    client.post(f"/portal/cases/{case.public_id}/withdraw/", {"version": case.version, "reason": ""})
    case.refresh_from_db()
    assert case.state == State.BRANCH_INTAKE
    client.post(f"/portal/cases/{case.public_id}/withdraw/", {"version": case.version, "reason": "改用其他银行"})
    case.refresh_from_db()
    assert case.state == State.WITHDRAWN


def test_only_customers_request_in_the_portal(world):
    with pytest.raises(CaseError):
        portal_case_request(user=world.am_a, enterprise_data={}, accounts=[], modules=[], fields={})


def test_account_manager_pick(world):
    # The enterprise's previous account manager, when there is one.
    world.case(State.DRAFT)  # created by am_a
    assert account_manager_pick(enterprise=world.company_x) == world.am_a
    # Otherwise the branch's account manager with the fewest open cases.
    from tests.factories import enterprise

    fresh = enterprise(world.branch_a)
    for _ in range(2):
        world.case(State.DRAFT)  # am_a now has 3 open cases, am_a2 none
    assert account_manager_pick(enterprise=fresh) == world.am_a2
    # A branch without one: the next level up.
    from branches.models import Branch, BranchLevel
    from branches.roles import Role

    empty = Branch.objects.create(code="C", name="C", level=BranchLevel.SUB_BRANCH, parent=world.tier1)
    up = user("am_t1", Role.ACCOUNT_MANAGER, branch=world.tier1)
    assert account_manager_pick(enterprise=enterprise(empty)) == up
    # A former account manager who left is not picked.
    world.am_a.is_active = False
    world.am_a.save()
    assert account_manager_pick(enterprise=world.company_x) == world.am_a2


def test_the_portal_home_tracks_each_case(world, client):
    intake = world.case(State.BRANCH_INTAKE)
    testing = world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    page = client.get("/portal/").content.decode()
    for case in (intake, testing):
        assert case.reference in page
    assert page.count('class="tracker portal-tracker"') == 2
    assert "待贵司办理" in page and "银行办理中" in page
    from django.utils import timezone

    assert timezone.localtime(testing.current_visit.due_at).strftime("%Y-%m-%d") in page


def test_portal_home_queries_grow_by_at_most_two_per_case(world, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(world.customer_x)
    counts = []
    for n in (1, 4):
        while world.company_x.cases.count() < n:
            world.case(State.JOINT_TESTING)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/portal/").status_code == 200
        counts.append(len(ctx))
    # Per case: its stage visits (stage_tracker), its latest test results and its document
    # checklist (documents, versions) for the action list. A company has a handful of cases;
    # the bound keeps it from growing further unnoticed.
    assert counts[1] - counts[0] <= 4 * 3
