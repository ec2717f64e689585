"""Counter entries (经办录入/复核): made by a maker, effective only when another person, a checker,
confirms; the maker may cancel while pending; nothing deleted; every step an event."""

from __future__ import annotations

import pytest

from branches.roles import Role
from counter import services
from counter.models import CounterEntry, OperatorRole, UKey
from onboarding.models import CaseEvent
from onboarding.services import CaseError
from onboarding.states import State
from tests.factories import resident_id, user


@pytest.fixture
def case(world):
    return world.case(State.UKEY_ISSUANCE)


def _identity(case, maker):
    ent = case.enterprise
    return services.identity_check_make(
        case=case, user=maker, person="legal_rep", person_name=ent.legal_rep_name, id_number=ent.legal_rep_id_number
    )


def _events(case, name):
    return list(CaseEvent.objects.filter(case=case, name=name))


def test_maker_records_identity_check_pending_until_a_different_checker_confirms(world, case):
    entry = _identity(case, world.maker)
    assert entry.status == CounterEntry.Status.PENDING
    assert _events(case, "counter_entry_made")[0].actor == world.maker
    services.entry_confirm(entry=entry, user=world.checker)
    entry.refresh_from_db()
    assert (entry.status, entry.checker) == (CounterEntry.Status.CONFIRMED, world.checker)
    assert _events(case, "counter_entry_confirmed")[0].actor == world.checker


def test_nobody_confirms_their_own_entry_even_holding_both_roles(world, case):
    both = user("both_counter", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    entry = _identity(case, both)
    with pytest.raises(CaseError) as exc:
        services.entry_confirm(entry=entry, user=both)
    assert "自己" in exc.value.message
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.PENDING
    services.entry_confirm(entry=entry, user=world.checker)
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CONFIRMED


def test_a_maker_without_the_checker_role_cannot_confirm(world, case):
    other_maker = user("maker2", Role.COUNTER_MAKER, branch=world.branch_a)
    entry = _identity(case, world.maker)
    with pytest.raises(CaseError) as exc:
        services.entry_confirm(entry=entry, user=other_maker)
    assert "仅限" in exc.value.message


def test_only_a_counter_maker_makes_entries(world, case):
    ent = case.enterprise
    for who in (world.checker, world.am_a, world.tech):
        with pytest.raises(CaseError):
            services.identity_check_make(
                case=case,
                user=who,
                person="legal_rep",
                person_name=ent.legal_rep_name,
                id_number=ent.legal_rep_id_number,
            )
    assert not CounterEntry.objects.exists()


def test_maker_may_cancel_a_pending_entry_and_it_stays_on_record(world, case):
    entry = _identity(case, world.maker)
    services.entry_cancel(entry=entry, user=world.maker, reason="录入有误")
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CANCELLED and entry.cancelled_at is not None
    assert CounterEntry.objects.filter(pk=entry.pk).exists()
    assert _events(case, "counter_entry_cancelled")[0].reason == "录入有误"
    with pytest.raises(CaseError):
        services.entry_confirm(entry=entry, user=world.checker)


def test_only_the_maker_cancels_and_only_while_pending(world, case):
    other_maker = user("maker2", Role.COUNTER_MAKER, branch=world.branch_a)
    entry = _identity(case, world.maker)
    with pytest.raises(CaseError) as exc:
        services.entry_cancel(entry=entry, user=other_maker)
    assert "录入人" in exc.value.message
    services.entry_confirm(entry=entry, user=world.checker)
    with pytest.raises(CaseError):
        services.entry_cancel(entry=entry, user=world.maker)
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CONFIRMED


def test_identity_check_must_match_the_company_records(world, case):
    ent = case.enterprise
    with pytest.raises(CaseError) as exc:
        services.identity_check_make(
            case=case, user=world.maker, person="legal_rep", person_name=ent.legal_rep_name, id_number=resident_id(777)
        )
    assert any("不符" in p for p in exc.value.problems)
    with pytest.raises(CaseError):
        services.identity_check_make(
            case=case, user=world.maker, person="legal_rep", person_name="王五", id_number=ent.legal_rep_id_number
        )
    assert not CounterEntry.objects.exists()


def test_identity_check_of_a_handler_needs_a_valid_authorisation(world):
    from tests.factories import enterprise

    company = enterprise(world.branch_a, handler_is_rep=False)
    user("customer_z", Role.ENTERPRISE_USER, enterprise=company)
    case = world.case(State.UKEY_ISSUANCE, company=company)
    kwargs = {"person": "handler", "person_name": company.handler_name, "id_number": company.handler_id_number}
    entry = services.identity_check_make(case=case, user=world.maker, **kwargs)
    assert entry.person == "handler"
    # The counter checks the case's (approved) data; here that version lost the e-banking scope.
    from tests.factories import case_company_set

    case = case_company_set(case, authorisation_covers_ebanking=False)
    with pytest.raises(CaseError) as exc:
        services.identity_check_make(case=case, user=world.maker, **kwargs)
    assert any("电子银行" in p for p in exc.value.problems)


def test_counter_staff_of_another_branch_are_refused(world, case):
    maker_b = user("maker_b", Role.COUNTER_MAKER, branch=world.branch_b)
    checker_b = user("checker_b", Role.COUNTER_CHECKER, branch=world.branch_b)
    ent = case.enterprise
    with pytest.raises(CaseError) as exc:
        services.identity_check_make(
            case=case,
            user=maker_b,
            person="legal_rep",
            person_name=ent.legal_rep_name,
            id_number=ent.legal_rep_id_number,
        )
    assert "管辖" in exc.value.message
    entry = _identity(case, world.maker)
    with pytest.raises(CaseError):
        services.entry_confirm(entry=entry, user=checker_b)


def test_counter_entries_only_from_ukey_issuance_on(world):
    case = world.case(State.JOINT_TESTING)
    with pytest.raises(CaseError):
        _identity(case, world.maker)


def test_ukey_issuance_takes_effect_only_on_confirmation(world, case):
    op = services.operator_add(
        case=case, user=world.maker, name="钱七", id_number=resident_id(901), role=OperatorRole.ENTRY
    )
    entry = services.ukey_issuance_make(case=case, user=world.maker, operator=op, serial="kb-0001")
    assert not UKey.objects.exists()
    services.entry_confirm(entry=entry, user=world.checker)
    key = UKey.objects.get()
    assert (key.serial, key.operator, key.status, key.holder) == ("KB-0001", op, UKey.Status.ISSUED, "钱七")
    assert key.issued_entry.maker == world.maker and key.issued_entry.checker == world.checker


def test_a_serial_number_cannot_be_issued_twice(world, case):
    a = services.operator_add(case=case, user=world.maker, name="甲", id_number=resident_id(902), role="entry")
    b = services.operator_add(case=case, user=world.maker, name="乙", id_number=resident_id(903), role="review")
    services.ukey_issuance_make(case=case, user=world.maker, operator=a, serial="KB-9")
    with pytest.raises(CaseError):
        services.ukey_issuance_make(case=case, user=world.maker, operator=b, serial="KB-9")
    with pytest.raises(CaseError):  # one issuance per operator at a time
        services.ukey_issuance_make(case=case, user=world.maker, operator=a, serial="KB-10")


def test_a_confirmed_entry_cannot_be_confirmed_twice(world, case):
    other_checker = user("checker2", Role.COUNTER_CHECKER, branch=world.branch_a)
    entry = _identity(case, world.maker)
    services.entry_confirm(entry=entry, user=world.checker)
    with pytest.raises(CaseError):
        services.entry_confirm(entry=entry, user=other_checker)
    entry.refresh_from_db()
    assert entry.checker == world.checker


def test_the_database_refuses_a_checker_who_is_the_maker(world, case):
    from django.db import IntegrityError, transaction

    entry = _identity(case, world.maker)
    with pytest.raises(IntegrityError), transaction.atomic():
        CounterEntry.objects.filter(pk=entry.pk).update(checker=world.maker)
