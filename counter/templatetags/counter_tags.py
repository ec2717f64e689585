from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from branches.roles import Role, user_roles
from branches.scope import case_in_scope
from casetypes import declaration
from casetypes.declaration import Feature
from config.frozen import OWNER, Frozen, frozen
from config.templatetags.form_fields import alike
from counter import forms
from counter.forms import CounterVisitForm
from counter.models import CounterEntry, UKey
from counter.rules import answered_for_q, counter_problems
from counter.selectors import (
    ANSWERED_KEY,
    active_operators,
    case_entry_list,
    case_operators,
    counter_work,
    keys_to_activate,
)
from counter.services import COUNTER_STATES, OPERATOR_STATES, pending_by_maker
from onboarding.models import OnboardingCase
from onboarding.page_reads import read_once

register = template.Library()


def _downloaded(operators: list[Any]) -> list[Any]:
    """The keys waiting for activation, each with its operator (already read with the operators)."""
    keys = []
    for operator in operators:
        for key in operator.ukeys.all():
            if key.status == UKey.Status.DOWNLOADED:
                key.operator = operator
                keys.append(key)
    return sorted(keys, key=lambda k: (k.issued_at, k.pk))


def _answered_for_read() -> Frozen:
    """The case's pending entries a user answers for (`answered_for_q`), compiled once a day per
    process: the stand-ins' filters (absences) hold the day's date, and building the query each
    time cost more CPU than running it."""
    from types import SimpleNamespace

    return frozen(
        f"counter.answered_for:{timezone.localdate().isoformat()}",
        lambda case_id, user_id: (
            CounterEntry.objects.filter(case_id=case_id, status=CounterEntry.Status.PENDING)
            .filter(answered_for_q(SimpleNamespace(pk=user_id)))
            .values_list("pk")
        ),
        [OWNER, OWNER - 1],
    )


def panel_data(*, case: OnboardingCase, user: Any) -> dict[str, Any]:
    """What the panel shows this user: the reads (`selectors`), what UKey issuance still needs
    (`rules`) and what the user may do at this stage."""
    roles = user_roles(user)
    in_scope = case_in_scope(case, user)
    counter_open = case.state in COUNTER_STATES
    operators = case_operators(case=case)
    entries = case_entry_list(case=case, reader=user, answered_for=answered_for_q)
    if read_once(case, ANSWERED_KEY, lambda: None) != user.pk:
        # Read before for nobody in particular (the guards): whom this reader answers for, asked
        # whatever the case holds (the page's number of queries does not depend on its data).
        # The maker and whoever stands in for the maker: may cancel it, may not check it.
        mine = {pk for (pk,) in _answered_for_read().values(case.pk, user.pk)}
        for entry in entries:
            entry.answers_for = entry.pk in mine  # type: ignore[attr-defined]
    return {
        "entries": entries,
        "operators": operators,
        "active_operators": [o for o in operators if o.removed_at is None],
        "active_operators_by_pk": active_operators(case=case),
        "counter_problems": counter_problems(case)
        if case.state in declaration.states_with(Feature.COUNTER_HOLDS)
        else [],
        "can_make": in_scope and counter_open and Role.COUNTER_MAKER in roles,
        "can_check": in_scope and counter_open and Role.COUNTER_CHECKER in roles,
        "is_counter_staff": in_scope and bool(roles & {Role.COUNTER_MAKER, Role.COUNTER_CHECKER}),
        "can_edit_operators": in_scope
        and case.state in OPERATOR_STATES
        and bool(roles & {Role.COUNTER_MAKER, Role.ACCOUNT_MANAGER}),
    }


def _refused(context: Any, name: str, auto_id: str) -> Any:
    """The panel's form `name` as it was refused (bound, with what was typed), if it was: drawn
    with the panel's ids, in place of the empty one (`onboarding.web.case_page_refused`)."""
    form = (context.get("refused_forms") or {}).get(name)
    if form is not None:
        form.auto_id = auto_id
    return form


@register.inclusion_tag("counter/_panel_body.html", takes_context=True)
def counter_panel(context: Any) -> dict[str, Any]:
    case = context["case"]
    user = context["request"].user
    data = panel_data(case=case, user=user)
    # The issue and activation forms read the case's operators and keys for their choices:
    # built only for a counter maker, the one reader who sees them.
    can_make = data["can_make"]
    work = counter_work(case=case) if can_make else None
    data.update(
        visit_form=(
            _refused(context, "visit_form", "cv_%s")
            or CounterVisitForm(
                operators=work["operators_without_key"], identity_needed=work["identity_needed"], auto_id="cv_%s"
            )
        )
        if work is not None
        else None,
        keys_to_activate=keys_to_activate(case=case) if can_make else [],
        pending_groups=pending_by_maker(case, user) if data["can_check"] else [],
        counter_open=case.state in COUNTER_STATES,
    )
    refused = context.get("refused_forms") or {}
    data.update(
        case=case,
        user=user,
        csrf_token=context.get("csrf_token"),
        # Each form only where the panel draws it (`can_edit_operators`, `can_make`).
        # The two empty forms drawn alike for everyone: made once per process (`alike`).
        operator_form=(_refused(context, "operator_form", "op_%s") or alike(forms.OperatorForm, auto_id="op_%s"))
        if data["can_edit_operators"]
        else None,
        identity_form=(_refused(context, "identity_form", "ic_%s") or alike(forms.IdentityCheckForm, auto_id="ic_%s"))
        if can_make
        else None,
        ukey_form=(
            _refused(context, "ukey_form", "uk_%s")
            or forms.UKeyIssueForm(case=case, operators=data["active_operators_by_pk"], auto_id="uk_%s")
        )
        if can_make
        else None,
        activation_form=(
            _refused(context, "activation_form", "ac_%s")
            or forms.ActivationForm(case=case, ukeys=_downloaded(data["operators"]), auto_id="ac_%s")
        )
        if can_make
        else None,
        # The one-by-one forms are folded; one refused is shown open, with what was typed.
        record_forms_open=any(n in refused for n in ("identity_form", "ukey_form", "activation_form")),
        operators_open="operator_form" in refused,
    )
    return data
