from __future__ import annotations

from typing import Any

from django import template

from people.selectors import absence_of, is_manager

register = template.Library()


@register.inclusion_tag("people/_case_panel.html", takes_context=True)
def people_case_panel(context: Any, case: Any) -> dict[str, Any]:
    """ "代 X 办理" while the case's account manager is away; a supervisor's way to hand it on."""
    user = context["request"].user
    return {
        "case": case,
        "absence": absence_of(case.account_manager_id) if case.is_open else None,
        "can_reassign": case.is_open and case.account_manager_id is not None and is_manager(user),
    }
