"""The counter's part of the UKey-issuance guard (added to `production_ready` in apps.ready)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils.translation import gettext as _

from casetypes.extensions import ExtensionPoint
from onboarding import validators

from .models import CounterEntry, UKey
from .selectors import active_operators, case_entry_list

if TYPE_CHECKING:
    from onboarding.models import OnboardingCase


def counter_problems(case: OnboardingCase) -> list[str]:
    """In-person identity check confirmed; every operator holds a confirmed, activated UKey.

    Names each operator who is not ready, so the checker knows whom to call back.
    """
    problems: list[str] = []
    entries = case_entry_list(case=case)
    if not any(
        e.kind == CounterEntry.Kind.IDENTITY_CHECK and e.status == CounterEntry.Status.CONFIRMED for e in entries
    ):
        problems.append(_("临柜身份核验尚未经复核确认"))
    operators = active_operators(case=case)
    if not operators:
        problems.append(_("尚未登记企业操作员"))
    for operator in operators:
        keys = [k for k in operator.ukeys.all() if k.in_use]
        if any(k.status == UKey.Status.ACTIVATED for k in keys):
            continue
        if not keys:
            problems.append(_("操作员 %(n)s 尚无经复核发放的UKey") % {"n": operator.name})
        else:
            key = keys[-1]
            problems.append(
                _("操作员 %(n)s 的UKey %(s)s 未激活(%(st)s)")
                % {"n": operator.name, "s": key.serial, "st": key.get_status_display()}  # type: ignore[attr-defined]
            )
    pending = sum(1 for e in entries if e.status == CounterEntry.Status.PENDING)
    if pending:
        problems.append(_("尚有 %(n)d 项柜面事项待复核或取消") % {"n": pending})
    return problems


def company_people(enterprise: Any) -> list[tuple[str, str, str]]:
    return [
        (_("法定代表人"), enterprise.legal_rep_name, enterprise.legal_rep_id_number),
        (_("经办人"), enterprise.handler_name, enterprise.handler_id_number),
    ]


def operator_conflicts(
    name: str, id_number: str, *, enterprise: Any, others: list[tuple[str, str, str]] | None = None
) -> list[str]:
    """An operator whose ID number is the legal representative's, the handler's or another
    operator's must carry the same name (validators.identity_conflicts), each conflict named."""
    operator = (_("操作员"), name, id_number)
    return [
        problem
        for person in [*company_people(enterprise), *(others or [])]
        for problem in validators.identity_conflicts([operator, person])
    ]


def operator_identity_problems(case: OnboardingCase) -> list[str]:
    """The case's operators against the company's people and each other (added to the guards
    of draft, intake and UKey issuance: company data edited after an operator was named)."""
    operators = [(o.name, o.id_number) for o in active_operators(case=case)]
    problems: list[str] = []
    for i, (name, number) in enumerate(operators):
        earlier = [(_("操作员"), n, num) for n, num in operators[:i]]
        problems.extend(operator_conflicts(name, number, enterprise=case.enterprise, others=earlier))
    return problems


# Who answers for entries beside their makers, added from other apps' `ready()`:
# ``rules.stand_ins.add(fn)``, `fn(user)` returning a `Q` over `CounterEntry` for the entries
# that user answers for in the maker's place (a filter, so a queue of any length stays one
# query). `people` names the colleague a leaver's entry was handed to and whoever stands in for
# the maker during an absence: each may cancel the entry as its maker could, and none of them
# may check it (dual control, issue 23).
stand_ins: ExtensionPoint[Callable[[Any], Q]] = ExtensionPoint(
    "counter.entry_stand_ins", "which counter entries a user answers for beside their makers"
)


def answered_for_q(user: Any) -> Q:
    """Entries `user` made or answers for in the maker's place: none of them theirs to check."""
    q = Q(maker_id=user.pk)
    for fn in stand_ins:
        q |= fn(user)
    return q


def answers_for(entry: CounterEntry, user: Any) -> bool:
    if entry.maker_id == user.pk:
        return True
    if not len(stand_ins):
        return False
    return CounterEntry.objects.filter(pk=entry.pk).filter(answered_for_q(user)).exists()
