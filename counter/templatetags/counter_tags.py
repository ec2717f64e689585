from __future__ import annotations

from typing import Any

from django import template

from counter import forms, selectors
from counter.models import UKey

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


@register.inclusion_tag("counter/_panel_body.html", takes_context=True)
def counter_panel(context: Any) -> dict[str, Any]:
    case = context["case"]
    user = context["request"].user
    data = selectors.counter_panel(case=case, user=user)
    # The issue and activation forms read the case's operators and keys for their choices:
    # built only for a counter maker, the one reader who sees them.
    can_make = data["can_make"]
    data.update(
        case=case,
        user=user,
        csrf_token=context.get("csrf_token"),
        operator_form=forms.OperatorForm(auto_id="op_%s"),
        identity_form=forms.IdentityCheckForm(auto_id="ic_%s"),
        ukey_form=forms.UKeyIssueForm(case=case, operators=data["active_operators_by_pk"], auto_id="uk_%s")
        if can_make
        else None,
        activation_form=forms.ActivationForm(case=case, ukeys=_downloaded(data["operators"]), auto_id="ac_%s")
        if can_make
        else None,
    )
    return data
