from __future__ import annotations

from typing import Any

from django import template

from counter import forms, selectors

register = template.Library()


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
        ukey_form=forms.UKeyIssueForm(case=case, auto_id="uk_%s") if can_make else None,
        activation_form=forms.ActivationForm(case=case, auto_id="ac_%s") if can_make else None,
    )
    return data
