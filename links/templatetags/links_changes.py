"""The change requests' panel on the request case page (`{% change_panel case as panel %}`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from counter.models import OperatorRole

from ..models import LinkRequest
from ..requests import operator_change as oc

register = template.Library()


def _role(code: str) -> str:
    return str(OperatorRole(code).label) if code in OperatorRole.values else code


def change_summary(request: LinkRequest) -> str:
    """What the request asks, in words."""
    d = request.details
    if request.kind == oc.CODE:
        action = d.get("action")
        if action == oc.ADD:
            return _("新增操作员 %(name)s(%(role)s)") % {"name": d.get("name", ""), "role": _role(d.get("role", ""))}
        if action == oc.REMOVE:
            return _("删除操作员 %(name)s(%(role)s)") % {
                "name": d.get("name", ""),
                "role": _role(d.get("old_role", "")),
            }
        if action == oc.ROLE:
            return _("操作员 %(name)s 角色由“%(old)s”变更为“%(new)s”") % {
                "name": d.get("name", ""),
                "old": _role(d.get("old_role", "")),
                "new": _role(d.get("role", "")),
            }
    return ""


@register.simple_tag
def change_panel(case: Any) -> dict[str, Any]:
    from ..views_changes import CounterMakeForm, ReturnForm

    request = LinkRequest.objects.select_related("link", "opened_by").filter(case_id=case.pk).first()
    if request is None or request.kind != oc.CODE:
        return {}
    pending = oc.pending_issuance(case)
    return {
        "request": request,
        "summary": change_summary(request),
        "is_add": request.details.get("action") == oc.ADD,
        "step": {oc.COUNTER: "make", oc.CHECKING: "check"}.get(case.state, ""),
        "pending": pending,
        "make_form": CounterMakeForm(),
        "return_form": ReturnForm(),
    }


register.filter("change_summary", change_summary)
