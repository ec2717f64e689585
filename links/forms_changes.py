"""Forms of the counter's steps on a change request, and what a change request asks in words
(read by the request's pages, its panel and its PDF form)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from counter.models import OperatorRole
from onboarding.form_fields import DateField

from .models import LinkRequest
from .requests import account_change as ac
from .requests import operator_change as oc


class CounterMakeForm(forms.Form):
    serial = forms.CharField(label=_l("新增操作员的K宝编号"), max_length=40, required=False)
    expires_on = DateField(label=_l("证书到期日"), required=False, help_text=_l("默认两年"))
    notes = forms.CharField(label=_l("备注"), max_length=300, required=False)


class ReturnForm(forms.Form):
    reason = forms.CharField(label=_l("退回原因"), max_length=500)


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


def request_reason(request: LinkRequest) -> str:
    """What the asker wrote when opening the request (kept on the link's `request_opened` event)."""
    opened = request.events.filter(name="request_opened").order_by("created_at", "pk").first()
    return opened.reason if opened is not None else ""
