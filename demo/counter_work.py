"""Walk a case's counter work through the real services (used by `seed_demo` and test builders)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from counter import services
from counter.models import CounterEntry, Operator, UKey
from onboarding.models import OnboardingCase
from onboarding.states import TEST_CASES


def record_all_tests_passed(case: OnboardingCase, user: Any, *, evidence: str = "联调流水 OK") -> None:
    from onboarding import services as onboarding_services

    for module in case.modules:
        for code, _label in TEST_CASES.get(module, ()):
            onboarding_services.test_result_record(
                case=case, user=user, module=module, test_case=code, passed=True, evidence=f"{evidence} {code}"
            )


def add_operators(case: OnboardingCase, user: Any, people: Sequence[tuple[str, str, str]]) -> list[Operator]:
    return [
        services.operator_add(case=case, user=user, name=name, id_number=id_number, role=role)
        for name, id_number, role in people
    ]


def confirm_identity(case: OnboardingCase, maker: Any, checker: Any) -> CounterEntry:
    ent = case.company
    if ent.handler_is_legal_rep:
        person, name, id_number = CounterEntry.Person.LEGAL_REP, ent.legal_rep_name, ent.legal_rep_id_number
    else:
        person, name, id_number = CounterEntry.Person.HANDLER, ent.handler_name, ent.handler_id_number
    entry = services.identity_check_make(case=case, user=maker, person=person, person_name=name, id_number=id_number)
    return services.entry_confirm(entry=entry, user=checker)


def issue_ukey(
    case: OnboardingCase,
    operator: Operator,
    maker: Any,
    checker: Any,
    *,
    serial: str,
    expires_on: dt.date | None = None,
    activate: bool = True,
) -> UKey:
    entry = services.ukey_issuance_make(case=case, user=maker, operator=operator, serial=serial, expires_on=expires_on)
    services.entry_confirm(entry=entry, user=checker)
    ukey = UKey.objects.get(issued_entry=entry)
    if activate:
        ukey = services.ukey_download_record(ukey=ukey, user=maker)
        activation = services.cert_activation_make(case=case, user=maker, ukey=ukey)
        services.entry_confirm(entry=activation, user=checker)
        ukey.refresh_from_db()
    return ukey


def complete_counter_work(
    case: OnboardingCase,
    *,
    maker: Any,
    checker: Any,
    people: Sequence[tuple[str, str, str]],
    serial_prefix: str,
    expires_on: dt.date | None = None,
) -> list[UKey]:
    """Operators, a confirmed identity check, and a confirmed, activated UKey for each operator."""
    operators = add_operators(case, maker, people)
    confirm_identity(case, maker, checker)
    return [
        issue_ukey(case, op, maker, checker, serial=f"{serial_prefix}{i:02d}", expires_on=expires_on)
        for i, op in enumerate(operators, start=1)
    ]
