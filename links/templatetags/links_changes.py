"""The change requests' panel on the request case page (`{% change_panel case as panel %}`)."""

from __future__ import annotations

from typing import Any

from django import template

from ..forms_changes import CounterMakeForm, ReturnForm, change_summary, request_reason
from ..models import LinkRequest
from ..requests import account_change as ac
from ..requests import operator_change as oc

register = template.Library()


@register.simple_tag
def change_panel(case: Any) -> dict[str, Any]:
    request = LinkRequest.objects.select_related("link", "opened_by", "ukey").filter(case_id=case.pk).first()
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


@register.simple_tag
def change_form_facts(case: Any) -> dict[str, Any]:
    """What the 变更申请书 (documents/forms/link_change_form.html) prints of the request."""
    from onboarding.terms import Module

    from ..requests import REQUEST_TYPES

    request = LinkRequest.objects.select_related("link", "link__branch").filter(case_id=case.pk).first()
    if request is None:
        return {}
    link = request.link
    changes = None
    if "accounts" in request.details:
        modules = request.details.get("modules", [])
        changes = {
            "accounts": request.details["accounts"],
            "modules": "、".join(str(Module(m).label) for m in modules if m in Module.values),
        }
    return {
        "request": request,
        "link": link,
        "summary": change_summary(request),
        "reason": request_reason(request),
        "kinds": [{"label": t.label, "chosen": request.kind == t.code} for t in REQUEST_TYPES if t.code != "ukey_loss"],
        "operators": list(link.current_operators()) if request.kind == oc.CODE else [],
        "changes": changes,
    }


@register.filter
def change_form_owed(case: Any) -> bool:
    """The request is in its review and the signed 变更申请书 is not yet accepted."""
    from ..requests.common import change_form_accepted

    return case.state in (oc.REVIEW, ac.REVIEW) and bool(change_form_accepted.problems(case))


register.filter("change_summary", change_summary)
