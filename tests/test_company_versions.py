"""Approved data is frozen: a company's later saves never reach a case past branch intake.

The seen bugs, reproduced: a customer's new portal request and an account manager's intake
edit both rewrote the company record shared by every case of the company, so a live case's
page, forms and guards showed data head office never approved, with no event.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from companies.models import CompanyVersion
from companies.rules import company_problems
from documents import checklist, forms_pdf
from onboarding import services
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.states import Module, State
from tests.factories import company_update, resident_id

NEW_NAME = "甲公司(更名后)"
NEW_ACCOUNT = "6222999900001111"


def portal_request_with_new_data(world, client):
    """The customer starts a new request with a new name, legal representative and account."""
    ent = world.company_x
    client.force_login(world.customer_x)
    response = client.post(
        "/portal/cases/new/",
        {
            "name": NEW_NAME,
            "legal_rep_name": "赵六",
            "legal_rep_id_number": resident_id(901),
            "handler_name": "赵六",
            "handler_id_number": resident_id(901),
            "acc-TOTAL_FORMS": "1",
            "acc-INITIAL_FORMS": "0",
            "acc-0-account_number": NEW_ACCOUNT,
            "acc-0-account_name": NEW_NAME,
            "modules": [Module.ACCOUNT_QUERY],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return OnboardingCase.objects.filter(enterprise=ent).order_by("-pk").first()


def staff_page(client, user, case):
    client.force_login(user)
    response = client.get(reverse("case_detail", args=[case.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_portal_request_leaves_a_live_case_as_approved(world, client):
    live = world.case(State.LIVE)
    old_name = live.company.name
    old_account = live.company.accounts[0]["account_number"]
    old_rep = live.company.legal_rep_name
    events_before = live.events.count()
    pdf_before = forms_pdf.fingerprint("application_form", forms_pdf.form_context(live, "application_form"))
    guard_before = live.company.values()

    draft = portal_request_with_new_data(world, client)

    # The company changed and has a new version; the new draft uses it.
    world.company_x.refresh_from_db()
    assert world.company_x.name == NEW_NAME
    latest = CompanyVersion.objects.filter(enterprise=world.company_x).order_by("-number").first()
    assert latest.name == NEW_NAME and latest.account_numbers == [NEW_ACCOUNT]
    assert draft.company_version == latest

    # The live case still points to what was approved, and nothing was written on it.
    live = OnboardingCase.objects.get(pk=live.pk)
    assert live.company.name == old_name and live.company.legal_rep_name == old_rep
    assert live.company.account_numbers == [old_account]
    assert live.company.values() == guard_before
    assert live.events.count() == events_before
    # Its forms print the approved data.
    context = forms_pdf.form_context(live, "application_form")
    assert context["enterprise"].name == old_name
    assert [a["account_number"] for a in context["accounts"]] == [old_account]
    assert forms_pdf.fingerprint("application_form", context) == pdf_before

    # Its staff page shows the approved data, and says the company has changed since.
    html = staff_page(client, world.am_a, live)
    assert f"{live.reference} · {old_name}" in html
    assert old_account in html
    assert "企业资料在批准后已变更" in html
    assert NEW_NAME in html.split("企业资料在批准后已变更")[1]  # in the difference, old → new
    # The portal page of the live case too.
    client.force_login(world.customer_x)
    portal_html = client.get(f"/portal/cases/{live.public_id}/").content.decode()
    assert f"{live.reference} · {old_name}" in portal_html


def test_an_intake_edit_on_one_case_does_not_alter_another_approved_case(world, client):
    approved = world.case(State.TEST_PACKAGE_ISSUANCE)
    intake = world.case(State.BRANCH_INTAKE, documents=False)
    before = approved.company_version_id
    approved_events = approved.events.count()

    client.force_login(world.am_a)
    ent = world.company_x
    post = {
        "name": ent.name,
        "legal_rep_name": "钱七",
        "legal_rep_id_number": ent.legal_rep_id_number,
        "handler_name": "钱七",
        "handler_id_number": ent.handler_id_number,
        "acc-TOTAL_FORMS": "2",
        "acc-INITIAL_FORMS": "0",
        "acc-0-account_number": ent.accounts.first().account_number,
        "acc-0-account_name": ent.name,
        "acc-1-account_number": NEW_ACCOUNT,
        "acc-1-account_name": ent.name,
        "modules": [Module.ACCOUNT_QUERY],
        "version": intake.version,
    }
    response = client.post(reverse("case_edit", args=[intake.public_id]), post)
    assert response.status_code == 302

    intake.refresh_from_db()
    assert intake.company.legal_rep_name == "钱七"
    assert NEW_ACCOUNT in intake.company.account_numbers
    # The edit is one write with one event: it names the company version the case moved to.
    adopted = intake.events.get(name="edit")
    assert adopted.actor == world.am_a and adopted.data["to_version"] == intake.company_version.number
    assert {"field": "legal_rep_name", "old": "张三", "new": "钱七"} in adopted.data["diff"]["fields"]
    assert adopted.data["diff"]["accounts_added"][0]["account_number"] == NEW_ACCOUNT

    approved.refresh_from_db()
    assert approved.company_version_id == before
    assert approved.company.legal_rep_name == "张三"
    assert NEW_ACCOUNT not in approved.company.account_numbers
    assert approved.events.count() == approved_events
    html = staff_page(client, world.am_a, approved)
    assert "企业资料在批准后已变更" in html


def test_a_new_intake_of_an_existing_company_does_not_alter_an_approved_case(world):
    approved = world.case(State.JOINT_TESTING)
    ent = world.company_x
    data = {f: getattr(ent, f) for f in ("name", "uscc", "legal_rep_name", "legal_rep_id_number")}
    data.update(handler_name="孙八", handler_id_number=resident_id(777, "19920303"), name="甲公司新名")
    data.update(authorisation_valid_from=None, authorisation_valid_until=None, authorisation_covers_ebanking=False)
    services.case_intake(
        user=world.am_a,
        enterprise_data=data,
        accounts=[{"account_number": NEW_ACCOUNT, "account_name": "甲公司新名"}],
        modules=[Module.ACCOUNT_QUERY],
        fields={},
    )
    approved.refresh_from_db()
    assert approved.company.name == "甲公司"
    assert approved.company.handler_name == "张三"


def test_draft_and_intake_cases_pick_up_the_new_data_with_an_event(world):
    draft = world.case(State.DRAFT)
    intake = world.case(State.BRANCH_INTAKE, documents=False)
    company_update(world.company_x, by=world.am_a, contact_phone="021-12345678")
    for case in (draft, intake):
        case.refresh_from_db()
        assert case.company.contact_phone == "021-12345678"
        event = case.events.get(name="company_version_adopted")
        assert event.data["diff"]["fields"] == [{"field": "contact_phone", "old": "", "new": "021-12345678"}]
        assert event.data["to_version"] == case.company.number
    # Saving the same data again is not a new version and tells nobody.
    count = CompanyVersion.objects.filter(enterprise=world.company_x).count()
    company_update(world.company_x, by=world.am_a, contact_phone="021-12345678")
    assert CompanyVersion.objects.filter(enterprise=world.company_x).count() == count
    assert draft.events.filter(name="company_version_adopted").count() == 1


def test_a_case_pointer_moving_makes_an_open_page_stale(world):
    draft = world.case(State.DRAFT)
    seen = draft.version
    company_update(world.company_x, by=world.am_a, contact_name="新联系人")
    with pytest.raises(services.CaseConflict):
        services.case_transition(case=draft, user=world.am_a, name="submit", expected_version=seen)


def test_the_checklist_and_guards_read_the_case_version(world):
    """The company's new handler (not the legal representative) asks an intake case for an
    authorisation letter, not an approved one."""
    approved = world.case(State.TEST_PACKAGE_ISSUANCE)
    intake = world.case(State.BRANCH_INTAKE, documents=False)
    today = approved.created_at.date()
    company_update(
        world.company_x,
        handler_name="李四",
        handler_id_number=resident_id(555, "19900202"),
        authorisation_valid_from=today,
        authorisation_valid_until=today.replace(year=today.year + 1),
        authorisation_covers_ebanking=True,
    )
    kinds = lambda case: [r.kind for r in checklist.requirements(case)]  # noqa: E731
    intake.refresh_from_db()
    approved.refresh_from_db()
    assert "authorisation_letter" in kinds(intake)
    assert "authorisation_letter" not in kinds(approved)
    assert company_problems(approved.company) == []


def test_production_accounts_are_checked_against_the_approved_accounts(world, client):
    case = world.case(State.UKEY_ISSUANCE)
    approved_account = case.company.account_numbers[0]
    portal_request_with_new_data(world, client)  # the company now lists only NEW_ACCOUNT
    case.refresh_from_db()
    from onboarding.models import ProductionConfig

    config = ProductionConfig(
        case=case,
        production_endpoint="https://prod.bank.example/api",
        certificate_serial="PROD-1",
        production_accounts=NEW_ACCOUNT,
    )
    assert any(NEW_ACCOUNT in p for p in config.problems())
    config.production_accounts = approved_account
    assert not any(approved_account in p for p in config.problems())


def test_company_versions_are_append_only(world):
    version = world.case().company_version
    version.name = "改写"
    with pytest.raises(PermissionError):
        version.save()
    with pytest.raises(PermissionError):
        version.delete()
    with pytest.raises(PermissionError):
        CompanyVersion.objects.filter(pk=version.pk).update(name="改写")
    with pytest.raises(PermissionError):
        CompanyVersion.objects.filter(pk=version.pk).delete()


@pytest.mark.postgres
def test_the_database_refuses_to_rewrite_a_company_version(world):
    from django.db import DatabaseError, transaction

    version = world.case().company_version
    for sql in (
        "UPDATE companies_companyversion SET name = 'x' WHERE id = %s",
        "DELETE FROM companies_companyversion WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [version.pk])
    assert CompanyVersion.objects.get(pk=version.pk).name == version.name


def test_event_labels(world):
    case = world.case()
    company_update(world.company_x, contact_name="新联系人")
    assert CaseEvent.objects.filter(case=case, name="company_version_adopted").get().label == "采用企业最新资料"


def test_a_case_returned_to_intake_picks_up_the_company_s_newest_data_and_says_so(world):
    from onboarding import services as case_services

    case = world.case(State.HEAD_OFFICE_APPROVAL)
    approved_on = case.company_version.number
    ent = world.company_x
    case_services.enterprise_save(
        user=world.am_a,
        data={"legal_rep_name": "钱七", "handler_name": "钱七"},
        accounts=[{"account_number": a.account_number, "account_name": a.account_name} for a in ent.accounts.all()],
        enterprise=ent,
    )
    case.refresh_from_db()
    assert case.company_version.number == approved_on  # frozen while in approval
    case = case_services.case_transition(
        case=case, user=world.supervisor, name="return_to_intake", reason="法人变更", expected_version=case.version
    )
    case.refresh_from_db()
    assert case.company.legal_rep_name == "钱七"
    event = case.events.get(name="return_to_intake")
    assert event.data["from_version"] == approved_on and event.data["to_version"] == case.company_version.number
