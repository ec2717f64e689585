"""Change requests (变更申请): the only way company data of a case past intake changes.

Filed by the customer or the case's account manager, decided by a branch supervisor of the
case's branch who did not file it; each step is a case event with the difference.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from branches.roles import Role
from companies.models import CompanyVersion
from onboarding.change_requests import change_request_approve, change_request_file, change_request_refuse
from onboarding.models import ChangeRequest, OnboardingCase
from onboarding.services import CaseError
from onboarding.states import State
from tests.factories import user

NEW_ACCOUNT = "6222888800002222"


def proposal(case, **changes):
    company = case.company
    data = {f: getattr(company, f) for f in ("name", "legal_rep_name", "legal_rep_id_number")}
    data.update(
        handler_name=company.handler_name,
        handler_id_number=company.handler_id_number,
        contact_email=company.contact_email,
    )
    data.update(changes)
    return data


def file(case, by, *, name="甲公司(更名)", accounts=None, reason="企业更名,营业执照已变更"):
    return change_request_file(
        case=case,
        user=by,
        data=proposal(case, name=name),
        accounts=accounts
        if accounts is not None
        else [*case.company.accounts, {"account_number": NEW_ACCOUNT, "account_name": name}],
        reason=reason,
    )


@pytest.fixture
def live(world):
    return world.case(State.LIVE)


def test_the_account_manager_files_and_the_supervisor_approves(world, live):
    old_version = live.company_version
    request = file(live, world.am_a)
    assert request.status == ChangeRequest.Status.PENDING
    live.refresh_from_db()
    assert live.company_version == old_version  # nothing changes before approval
    filed = live.events.get(name="company_change_request_filed")
    assert filed.actor == world.am_a and filed.reason == "企业更名,营业执照已变更"
    assert {"field": "name", "old": "甲公司", "new": "甲公司(更名)"} in filed.data["diff"]["fields"]

    change_request_approve(request=request, user=world.supervisor, reason="核对营业执照无误")
    live.refresh_from_db()
    assert live.company.name == "甲公司(更名)"
    assert NEW_ACCOUNT in live.company.account_numbers
    assert live.company_version.number == old_version.number + 1
    world.company_x.refresh_from_db()
    assert world.company_x.name == "甲公司(更名)"
    approved = live.events.get(name="company_change_request_approved")
    assert approved.actor == world.supervisor
    assert approved.reason == "核对营业执照无误"
    assert approved.data["filed_by"] == str(world.am_a) and approved.data["filed_reason"] == "企业更名,营业执照已变更"
    assert approved.data["diff"]["accounts_added"][0]["account_number"] == NEW_ACCOUNT
    assert (approved.data["from_version"], approved.data["to_version"]) == (old_version.number, old_version.number + 1)
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.APPROVED and request.result_version == live.company_version


def test_approval_moves_only_that_case_and_the_draft_cases(world, live):
    other_live = world.case(State.JOINT_TESTING)
    draft = world.case(State.DRAFT)
    change_request_approve(request=file(live, world.customer_x), user=world.supervisor)
    other_live.refresh_from_db()
    draft.refresh_from_db()
    assert other_live.company.name == "甲公司"
    assert draft.company.name == "甲公司(更名)"


def test_a_refusal_needs_a_reason_and_changes_nothing(world, live):
    request = file(live, world.customer_x)
    with pytest.raises(CaseError) as exc:
        change_request_refuse(request=request, user=world.supervisor, reason=" ")
    assert "原因" in exc.value.message
    change_request_refuse(request=request, user=world.supervisor, reason="营业执照复印件不清晰")
    live.refresh_from_db()
    assert live.company.name == "甲公司"
    refused = live.events.get(name="company_change_request_refused")
    assert refused.reason == "营业执照复印件不清晰" and refused.actor == world.supervisor
    world.company_x.refresh_from_db()
    assert world.company_x.name == "甲公司"
    # Decided once: neither approval nor a second refusal goes through afterwards.
    with pytest.raises(CaseError):
        change_request_approve(request=request, user=world.supervisor)


def test_the_filer_cannot_approve_their_own_request(world, live):
    both = user("am_sup", Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR, branch=world.tier1)
    OnboardingCase.objects.filter(pk=live.pk).update(account_manager=both)
    live.refresh_from_db()
    request = file(live, both)
    with pytest.raises(CaseError) as exc:
        change_request_approve(request=request, user=both)
    assert "提交人不能审批" in exc.value.message
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.PENDING


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("supervisor_other", "管辖范围"),  # a supervisor of another tier-1 branch
        ("customer_x", "分行审核"),  # the customer of the same company
        ("am_a", "分行审核"),  # the account manager who checks it
        ("approver", "分行审核"),
    ],
)
def test_who_may_not_decide(world, live, who, message):
    request = file(live, world.customer_x)
    with pytest.raises(CaseError) as exc:
        change_request_approve(request=request, user=getattr(world, who))
    assert message in exc.value.message
    with pytest.raises(CaseError):
        change_request_refuse(request=request, user=getattr(world, who), reason="不同意")
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.PENDING


@pytest.mark.parametrize("who", ["customer_y", "am_a2", "am_b", "supervisor", "tech"])
def test_who_may_not_file(world, live, who):
    with pytest.raises(CaseError):
        file(live, getattr(world, who))
    assert not ChangeRequest.objects.exists()


def test_no_change_request_before_or_in_intake_nor_twice(world, live):
    intake = world.case(State.BRANCH_INTAKE, documents=False)
    with pytest.raises(CaseError) as exc:
        file(intake, world.am_a)
    assert "直接修改" in exc.value.message
    file(live, world.am_a)
    with pytest.raises(CaseError) as exc:
        file(live, world.customer_x, name="甲公司(又更名)")
    assert "待审批" in exc.value.message
    with pytest.raises(CaseError):
        file(world.case(State.JOINT_TESTING), world.am_a, reason="")


def test_a_request_without_a_difference_is_refused(world, live):
    with pytest.raises(CaseError) as exc:
        file(live, world.am_a, name="甲公司", accounts=list(live.company.accounts))
    assert "相同" in exc.value.message


def form_post(case, **overrides):
    company = case.enterprise
    data = {
        "name": "甲公司(门户更名)",
        "legal_rep_name": company.legal_rep_name,
        "legal_rep_id_number": company.legal_rep_id_number,
        "handler_name": company.handler_name,
        "handler_id_number": company.handler_id_number,
        "acc-TOTAL_FORMS": "1",
        "acc-INITIAL_FORMS": "0",
        "acc-0-account_number": company.accounts.first().account_number,
        "acc-0-account_name": "甲公司(门户更名)",
        "reason": "工商变更登记",
    }
    data.update(overrides)
    return data


def test_the_customer_files_in_the_portal_and_the_supervisor_sees_and_approves_it(world, live, client):
    client.force_login(world.customer_x)
    page = client.get(f"/portal/cases/{live.public_id}/").content.decode()
    url = reverse("portal:case_change_request", args=[live.public_id])
    assert url in page
    form = client.get(url).content.decode()
    assert world.company_x.name in form  # prefilled from the company's current data
    response = client.post(url, form_post(live))
    assert response.status_code == 302
    request = ChangeRequest.objects.get(case=live)
    assert request.filed_by == world.customer_x

    # The next person: the supervisor logs in, sees it with the difference and decides.
    client.force_login(world.supervisor)
    html = client.get(reverse("case_detail", args=[live.public_id])).content.decode()
    assert "工商变更登记" in html and "甲公司(门户更名)" in html
    decide = reverse("change_request_decide", args=[request.public_id])
    assert decide in html
    # The account manager sees it too, without the decision buttons.
    client.force_login(world.am_a)
    assert decide not in client.get(reverse("case_detail", args=[live.public_id])).content.decode()
    # A supervisor of another branch cannot even find it.
    client.force_login(world.supervisor_other)
    assert client.post(decide, {"decision": "approve"}).status_code == 404
    # The customer cannot post to the staff decision page.
    client.force_login(world.customer_x)
    assert client.post(decide, {"decision": "approve"}).status_code == 403

    client.force_login(world.supervisor)
    client.post(decide, {"decision": "approve", "reason": "已核对"})
    live.refresh_from_db()
    assert live.company.name == "甲公司(门户更名)"
    # Back to the customer: the case shows the new data and the approved request.
    client.force_login(world.customer_x)
    page = client.get(f"/portal/cases/{live.public_id}/").content.decode()
    assert f"{live.reference} · 甲公司(门户更名)" in page
    assert "已批准" in page


def test_the_account_manager_files_on_the_staff_page_and_a_refusal_without_reason_is_refused(world, live, client):
    client.force_login(world.am_a)
    url = reverse("case_change_request", args=[live.public_id])
    assert url in client.get(reverse("case_detail", args=[live.public_id])).content.decode()
    assert client.post(url, form_post(live)).status_code == 302
    request = ChangeRequest.objects.get(case=live)
    client.force_login(world.supervisor)
    decide = reverse("change_request_decide", args=[request.public_id])
    client.post(decide, {"decision": "refuse", "reason": ""})
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.PENDING
    client.post(decide, {"decision": "refuse", "reason": "资料不全"})
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.REFUSED and request.decision_reason == "资料不全"


def test_another_company_cannot_reach_the_portal_form(world, live, client):
    client.force_login(world.customer_y)
    url = reverse("portal:case_change_request", args=[live.public_id])
    assert client.get(url).status_code == 404
    assert client.post(url, form_post(live)).status_code == 404
    assert not ChangeRequest.objects.exists()


def test_versions_keep_every_step(world, live):
    change_request_approve(request=file(live, world.am_a), user=world.supervisor)
    numbers = list(CompanyVersion.objects.filter(enterprise=world.company_x).values_list("number", flat=True))
    assert numbers == sorted(numbers) and len(numbers) >= 2
