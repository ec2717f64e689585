"""Pages of the change requests on a live link (operator change; accounts/modules change): the
customer and the account manager ask; the counter records and a different checker confirms.
Every link and request is read through a scoped selector (404 outside scope); the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from branches.roles import Role, has_role
from config.once import once
from onboarding.web import AuthenticatedHttpRequest, run_action, staff_required

from . import changes, selectors, services
from .forms_changes import CounterMakeForm, ReturnForm
from .models import LinkRequest, LiveLink
from .requests import operator_change as oc
from .views import customer_required


class OperatorChangeForm(forms.Form):
    action = forms.ChoiceField(label=_l("变更类型"), choices=list(oc.ACTIONS.items()), widget=forms.RadioSelect)
    operator = forms.TypedChoiceField(
        label=_l("操作员(删除或变更角色时)"), coerce=int, required=False, empty_value=None
    )
    name = forms.CharField(label=_l("新增操作员姓名"), max_length=60, required=False)
    id_number = forms.CharField(label=_l("新增操作员身份证号"), max_length=18, required=False)
    role = forms.ChoiceField(label=_l("角色(新增或变更后)"), required=False)
    reason = forms.CharField(label=_l("申请说明"), max_length=300, required=False)

    def __init__(self, *args: Any, link: LiveLink, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rows = link.current_operators().order_by("started_at", "pk")
        self.fields["operator"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (r.operator_id, f"{r.name}({r.role_label})") for r in rows
        ]
        self.fields["role"].choices = [("", "—")] + [(r.value, r.label) for r in changes.CHANGE_ROLES]  # type: ignore[attr-defined]


def _operator_change_page(request: AuthenticatedHttpRequest, link: LiveLink, *, portal: bool) -> HttpResponse:
    refusal = services.launch_refusal(link=link, kind=oc.CODE)
    form = OperatorChangeForm(request.POST or None, link=link)
    if request.method == "POST":
        opened: list[LinkRequest] = []

        def act() -> None:
            data = form.cleaned_data
            opened.append(
                changes.operator_change_open(
                    link=link,
                    user=request.user,
                    action=data["action"],
                    operator_id=data["operator"],
                    name=data["name"],
                    id_number=data["id_number"],
                    role=data["role"],
                    reason=data["reason"],
                )
            )

        if run_action(request, form, act, _("操作员变更申请已提交,等待客户经理审核")):
            case = opened[0].case
            if portal:
                return redirect(reverse("portal:case_detail", args=[case.public_id]))
            return redirect(reverse("case_detail", kwargs={"public_id": case.public_id}))
    template = "links/requests/operator_change_portal.html" if portal else "links/requests/operator_change.html"
    return render(request, template, {"link": link, "form": form, "refusal": refusal, "portal": portal})


@staff_required
@once
def operator_change_new(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = selectors.link_get_for_user(user=request.user, public_id=link_id)
    if not has_role(request.user, Role.ACCOUNT_MANAGER):
        raise PermissionDenied
    return _operator_change_page(request, link, portal=False)


@customer_required
@once
def portal_operator_change_new(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = selectors.link_get_for_user(user=request.user, public_id=link_id)
    return _operator_change_page(request, link, portal=True)


def _back(req: LinkRequest) -> HttpResponse:
    return redirect(reverse("case_detail", kwargs={"public_id": req.case.public_id}) + "#change-request")


@staff_required
@require_POST
@once
def operator_change_make(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    form = CounterMakeForm(request.POST)
    run_action(
        request,
        form,
        lambda: changes.operator_change_make(request=req, user=request.user, **form.cleaned_data),
        _("变更已录入,等待柜面复核"),
    )
    return _back(req)


@staff_required
@require_POST
def operator_change_confirm(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    run_action(
        request,
        None,
        lambda: changes.operator_change_confirm(request=req, user=request.user),
        _("复核通过:操作员变更已生效,申请办结"),
    )
    return _back(req)


@staff_required
@require_POST
def operator_change_return(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    form = ReturnForm(request.POST)
    run_action(
        request,
        form,
        lambda: changes.operator_change_return(request=req, user=request.user, reason=form.cleaned_data["reason"]),
        _("已退回柜面经办重新录入"),
    )
    return _back(req)


# --- the change form (变更申请书) as a PDF -----------------------------------------------------------------


def change_form_pdf_bytes(req: LinkRequest) -> bytes:
    """The request's 变更申请书 as it prints now, by the documents' PDF pipeline and template (the
    same as the form generated and kept on the case's document list, with its form code)."""
    from django.utils import timezone

    from documents import forms_pdf
    from documents.models import DocumentKind

    kind = DocumentKind.LINK_CHANGE_FORM
    case = req.case
    return forms_pdf.render_form(kind, forms_pdf.form_context(case, kind), number=0, generated_at=timezone.now())


def _pdf(req: LinkRequest) -> HttpResponse:
    response = HttpResponse(change_form_pdf_bytes(req), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{req.case.reference}-change.pdf"'
    return response


@staff_required
def change_form_pdf(request: AuthenticatedHttpRequest, request_id: Any) -> HttpResponse:
    return _pdf(selectors.request_for_case_for_user(user=request.user, public_id=request_id))


@customer_required
def portal_change_form_pdf(request: AuthenticatedHttpRequest, request_id: Any) -> HttpResponse:
    return _pdf(selectors.request_for_case_for_user(user=request.user, public_id=request_id))


# --- accounts or modules change ----------------------------------------------------------------------------


def _query() -> str:
    return pgettext("account right", "查询")


def _pay() -> str:
    return pgettext("account right", "支付")


def _account_lines(link: LiveLink) -> str:
    lines = []
    for a in link.current_accounts():
        rights = " ".join(r for r, on in ((_query(), a.can_query), (_pay(), a.can_pay)) if on)
        lines.append(f"{a.account_number} | {a.account_name} | {a.opening_branch} | {rights}")
    return "\n".join(lines)


class AccountChangeForm(forms.Form):
    modules = forms.MultipleChoiceField(label=_l("功能模块(变更后)"), widget=forms.CheckboxSelectMultiple)
    accounts = forms.CharField(
        label=_l("直联账户(变更后)"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_l("每行一个账户:账号 | 户名 | 开户行 | 权限(查询、支付,空格分隔)"),
    )
    reason = forms.CharField(label=_l("申请说明"), max_length=300, required=False)

    def __init__(self, *args: Any, link: LiveLink, **kwargs: Any) -> None:
        from onboarding.terms import Module

        kwargs.setdefault("initial", {"modules": list(link.modules), "accounts": _account_lines(link)})
        super().__init__(*args, **kwargs)
        self.fields["modules"].choices = Module.choices  # type: ignore[attr-defined]

    def clean_accounts(self) -> list[dict[str, Any]]:
        rows = []
        for n, line in enumerate(self.cleaned_data["accounts"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 4:
                raise forms.ValidationError(_("第 %(n)d 行须为:账号 | 户名 | 开户行 | 权限") % {"n": n})
            rights = parts[3].replace("、", " ").replace(",", " ").split()
            unknown = [r for r in rights if r not in (_query(), _pay())]
            if unknown:
                raise forms.ValidationError(_("第 %(n)d 行的权限只能是“查询”或“支付”") % {"n": n})
            rows.append(
                {
                    "account_number": parts[0],
                    "account_name": parts[1],
                    "opening_branch": parts[2],
                    "can_query": _query() in rights,
                    "can_pay": _pay() in rights,
                }
            )
        return rows


def _account_change_page(request: AuthenticatedHttpRequest, link: LiveLink, *, portal: bool) -> HttpResponse:
    from .requests import account_change as ac

    refusal = services.launch_refusal(link=link, kind=ac.CODE)
    form = AccountChangeForm(request.POST or None, link=link)
    if request.method == "POST":
        opened: list[LinkRequest] = []

        def act() -> None:
            data = form.cleaned_data
            opened.append(
                changes.account_change_open(
                    link=link,
                    user=request.user,
                    accounts=data["accounts"],
                    modules=data["modules"],
                    reason=data["reason"],
                )
            )

        if run_action(request, form, act, _("账户/功能变更申请已提交,等待客户经理审核")):
            case = opened[0].case
            if portal:
                return redirect(reverse("portal:case_detail", args=[case.public_id]))
            return redirect(reverse("case_detail", kwargs={"public_id": case.public_id}))
    template = "links/requests/account_change_portal.html" if portal else "links/requests/account_change.html"
    return render(request, template, {"link": link, "form": form, "refusal": refusal, "portal": portal})


@staff_required
@once
def account_change_new(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = selectors.link_get_for_user(user=request.user, public_id=link_id)
    if not has_role(request.user, Role.ACCOUNT_MANAGER):
        raise PermissionDenied
    return _account_change_page(request, link, portal=False)


@customer_required
@once
def portal_account_change_new(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = selectors.link_get_for_user(user=request.user, public_id=link_id)
    return _account_change_page(request, link, portal=True)


@staff_required
@require_POST
def account_change_complete(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    run_action(
        request,
        None,
        lambda: changes.account_change_complete(request=req, user=request.user),
        _("账户/功能变更已生效,申请办结"),
    )
    return _back(req)
