"""The change requests' panel on the request case page (`{% change_panel case as panel %}`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from counter.models import OperatorRole

from ..models import LinkRequest
from ..requests import account_change as ac
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
    if request.kind == ac.CODE:
        return _account_summary(d)
    return ""


def _account_summary(d: dict[str, Any]) -> str:
    from onboarding.terms import Module

    def modules(codes: list[str]) -> str:
        return "、".join(str(Module(m).label) for m in codes if m in Module.values)

    parts = []
    if d.get("added_accounts"):
        parts.append(_("新增账户 %(a)s") % {"a": "、".join(d["added_accounts"])})
    if d.get("removed_accounts"):
        parts.append(_("删除账户 %(a)s") % {"a": "、".join(d["removed_accounts"])})
    if d.get("added_modules"):
        parts.append(_("新增模块 %(m)s") % {"m": modules(d["added_modules"])})
    if d.get("removed_modules"):
        parts.append(_("删除模块 %(m)s") % {"m": modules(d["removed_modules"])})
    if not parts:
        parts.append(_("调整账户权限"))
    return ";".join(parts)


@register.simple_tag
def change_panel(case: Any) -> dict[str, Any]:
    from ..views_changes import CounterMakeForm, ReturnForm

    request = LinkRequest.objects.select_related("link", "opened_by").filter(case_id=case.pk).first()
    if request is None or request.kind not in (oc.CODE, ac.CODE):
        return {}
    if request.kind == ac.CODE:
        return {
            "request": request,
            "summary": change_summary(request),
            "accounts": request.details.get("accounts", []),
            "step": "complete" if case.state == ac.SETUP else "",
        }
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
