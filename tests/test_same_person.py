"""One ID number is one person: the legal representative, the handler and the operators.

A handler entered under another name with the legal representative's ID number counted as
the legal representative (only ID numbers were compared), so no authorisation letter was asked
for. Now the same ID number under two names is refused, naming both, in the forms and in the
guards (so a service call is refused too), and the handler is the legal representative only
when ID number and name both match.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from companies import rules as company_rules
from companies.models import Enterprise
from counter import services as counter
from counter.models import Operator, OperatorRole
from documents import checklist
from onboarding import rules, services
from onboarding.models import OnboardingCase
from onboarding.services import CaseError
from onboarding.states import State
from onboarding.validators import identity_conflicts, normalise_id_number, normalise_person_name, same_person
from tests.factories import enterprise, resident_id
from tests.test_portal_request import form_data as portal_form_data
from tests.test_staff_pages import _intake_post

LEGAL_ID = "11010519491231002X"  # 王五 in tests.test_staff_pages._intake_post
CONFLICT = "身份证号相同而姓名不同"


# --- the rule ------------------------------------------------------------------------------


def test_names_and_id_numbers_are_compared_normalised():
    assert normalise_id_number(" 11010519491231002x ") == LEGAL_ID
    assert normalise_person_name("  欧阳   娜娜 ") == "欧阳 娜娜"
    assert normalise_person_name("John\u3000 Smith") == "John Smith"
    assert same_person(" 王五 ", "11010519491231002x", "王五", LEGAL_ID)
    assert not same_person("李四", LEGAL_ID, "王五", LEGAL_ID)
    assert not same_person("王五", resident_id(7), "王五", LEGAL_ID)


def test_a_conflict_names_both_people():
    (problem,) = identity_conflicts([("经办人", "李四", LEGAL_ID), ("法定代表人", "王五", LEGAL_ID.lower())])
    assert "经办人“李四”" in problem and "法定代表人“王五”" in problem and CONFLICT in problem
    assert identity_conflicts([("经办人", "王五", LEGAL_ID), ("法定代表人", " 王五", LEGAL_ID)]) == []
    assert identity_conflicts([("经办人", "李四", resident_id(7)), ("法定代表人", "王五", LEGAL_ID)]) == []


def _company(world, *, handler_name: str, handler_id: str | None = None, authorised: bool = False) -> Enterprise:
    company = enterprise(world.branch_a, handler_is_rep=not authorised)
    company.handler_name = handler_name
    company.handler_id_number = handler_id or company.legal_rep_id_number
    company.save()
    return company


def test_the_handler_is_the_legal_rep_only_when_id_and_name_match(world):
    same = _company(world, handler_name="张三")  # the factory's legal representative
    assert same.handler_is_legal_rep
    spaced = _company(world, handler_name=" 张三 ")
    assert spaced.handler_is_legal_rep
    other_name = _company(world, handler_name="李四")
    assert not other_name.handler_is_legal_rep
    other_id = _company(world, handler_name="张三", handler_id=resident_id(901, "19900101"), authorised=True)
    assert not other_id.handler_is_legal_rep


# --- the guard: a service call is refused ----------------------------------------------------


def test_the_guard_refuses_the_legal_reps_id_under_another_name(world):
    company = _company(world, handler_name="李四")
    problems = company_rules.company_problems(company)
    assert any(CONFLICT in p and "李四" in p and "张三" in p for p in problems), problems
    case = world.case(State.DRAFT, company=company)
    with pytest.raises(CaseError) as exc:
        services.case_transition(case=case, user=world.am_a, name="submit")
    assert any("李四" in p and "张三" in p for p in exc.value.problems)
    assert OnboardingCase.objects.get(pk=case.pk).state == State.DRAFT
    # And no document checklist takes the handler for the legal representative.
    assert "authorisation_letter" in {r.kind for r in checklist.requirements(case)}


def test_the_guard_lets_the_same_person_through(world):
    company = _company(world, handler_name="张三")
    assert company_rules.company_problems(company) == []
    case = world.case(State.DRAFT, company=company)
    assert services.case_transition(case=case, user=world.am_a, name="submit").state == State.BRANCH_INTAKE
    assert "authorisation_letter" not in {r.kind for r in checklist.requirements(case)}


def test_a_real_other_handler_with_an_authorisation_passes(world):
    company = enterprise(world.branch_a, handler_is_rep=False)
    assert not company.handler_is_legal_rep
    assert company_rules.company_problems(company) == []


# --- the forms -------------------------------------------------------------------------------


def test_staff_form_refuses_the_legal_reps_id_under_another_name(client, world):
    client.force_login(world.am_a)
    response = client.post(reverse("case_new"), _intake_post(handler_name="李四"))
    html = response.content.decode()
    assert response.status_code == 200
    assert CONFLICT in html and "李四" in html and "王五" in html
    assert OnboardingCase.objects.count() == 0


def test_staff_form_accepts_the_same_person_written_with_other_spacing(client, world):
    client.force_login(world.am_a)
    response = client.post(reverse("case_new"), _intake_post(handler_name=" 王五 ", handler_id_number=LEGAL_ID.lower()))
    assert response.status_code == 302
    assert Enterprise.objects.get(uscc="91350100M000100Y43").handler_is_legal_rep


def test_portal_form_refuses_the_legal_reps_id_under_another_name(client, world):
    case = world.case(State.DRAFT)
    client.force_login(world.customer_x)
    company = world.company_x
    url = reverse("portal:case_edit", args=[case.public_id])
    response = client.post(
        url, {**portal_form_data(world, handler_name="李四"), "handler_id_number": company.legal_rep_id_number}
    )
    html = response.content.decode()
    assert response.status_code == 200 and CONFLICT in html and "李四" in html and company.legal_rep_name in html
    company.refresh_from_db()
    assert company.handler_name != "李四"
    response = client.post(url, portal_form_data(world))
    assert response.status_code == 302


# --- operators at the counter ----------------------------------------------------------------


def test_an_operator_with_the_legal_reps_id_must_carry_the_legal_reps_name(world):
    case = world.case(State.DRAFT)
    company = world.company_x
    with pytest.raises(CaseError) as exc:
        counter.operator_add(
            case=case, user=world.am_a, name="赵六", id_number=company.legal_rep_id_number, role=OperatorRole.ENTRY
        )
    assert CONFLICT in exc.value.message and "赵六" in exc.value.message and company.legal_rep_name in exc.value.message
    assert not Operator.objects.filter(case=case).exists()
    same = counter.operator_add(
        case=case, user=world.am_a, name=company.legal_rep_name, id_number=company.legal_rep_id_number, role="entry"
    )
    other = counter.operator_add(case=case, user=world.am_a, name="赵六", id_number=resident_id(77), role="review")
    assert {same.pk, other.pk} == set(Operator.objects.filter(case=case).values_list("pk", flat=True))


def test_operator_form_names_both_people(client, world):
    case = world.case(State.DRAFT)
    client.force_login(world.am_a)
    url = reverse("counter:operator_add", args=[case.public_id])
    data = {"name": "赵六", "id_number": world.company_x.legal_rep_id_number, "role": "entry"}
    response = client.post(url, data, follow=True)
    html = response.content.decode()
    assert CONFLICT in html and "赵六" in html
    assert not Operator.objects.filter(case=case).exists()
    client.post(url, {**data, "id_number": resident_id(78)})
    assert Operator.objects.filter(case=case, name="赵六").exists()


def test_company_data_changed_after_an_operator_was_named_is_caught_by_the_guard(world):
    case = world.case(State.DRAFT)
    company = world.company_x
    counter.operator_add(
        case=case, user=world.am_a, name=company.handler_name, id_number=company.handler_id_number, role="entry"
    )
    assert rules.draft_complete.problems(case) == []
    # The handler is renamed (and made another person), the operator still holds the old name.
    Enterprise.objects.filter(pk=company.pk).update(
        legal_rep_id_number=resident_id(79), authorisation_covers_ebanking=True
    )
    Enterprise.objects.filter(pk=company.pk).update(handler_name="钱七")
    case = OnboardingCase.objects.select_related("enterprise").get(pk=case.pk)
    problems = rules.draft_complete.problems(case)
    assert any(CONFLICT in p and "钱七" in p and company.handler_name in p for p in problems), problems
