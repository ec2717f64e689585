"""The change requests' panel on the request case page (`{% change_panel case as panel %}`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ObjectDoesNotExist

from ..forms_changes import CounterMakeForm, ReturnForm, change_summary, request_reason
from ..models import LinkRequest
from ..requests import account_change as ac
from ..requests import operator_change as oc

register = template.Library()


@register.simple_tag
def change_panel(case: Any) -> dict[str, Any]:
    if case.case_type not in (oc.CODE, ac.CODE):
        return {}
    try:
        request: LinkRequest | None = case.link_request  # on the case page read with the case
    except ObjectDoesNotExist:
        request = None
    if request is None or request.kind not in (oc.CODE, ac.CODE):
        return {}
    if request.kind == ac.CODE:
        return {
            "request": request,
            "summary": change_summary(request),
            "reason": request_reason(request),
            "accounts": request.details.get("accounts", []),
            "step": "complete" if case.state == ac.SETUP else "",
        }
    pending = oc.pending_issuance(case)
    return {
        "request": request,
        "summary": change_summary(request),
        "reason": request_reason(request),
        "is_add": request.details.get("action") == oc.ADD,
        "step": {oc.COUNTER: "make", oc.CHECKING: "check"}.get(case.state, ""),
        "pending": pending,
        "make_form": CounterMakeForm(),
        "return_form": ReturnForm(),
    }


register.filter("change_summary", change_summary)
