"""Pages of the renewal, suspension/resumption and termination requests and the legal hold.

Staff start a request from a link (`/links/<id>/requests/<kind>/`), customers from the portal
(`/portal/links/<id>/requests/<kind>/`); the request is then a case with its own page (the case
page for staff, the portal case page for the customer), where the engine's transitions, the
documents and the panels of templates/links/requests/ do the rest. Every read is scoped: staff
see their branch subtree, customers their company (404 otherwise).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from branches.roles import Role, has_role, user_roles
from branches.scope import subtree_q
from onboarding import services as case_services
from onboarding.models import OnboardingCase
from onboarding.services import CaseError
from onboarding.web import case_for, show_case_error, show_form_errors, staff_required

from . import request_services
from .models import LinkRequest, LiveLink
from .request_forms import CertificateForm, ReasonForm, SuspensionForm
from .requests import cert_renewal, suspension, termination

KINDS = {
    "suspension": suspension.SUSPENSION,
    "resumption": suspension.RESUMPTION,
    "termination": termination.CODE,
}


def _link_q(user: Any) -> Q:
    if user.enterprise_id is not None:
        return Q(enterprise_id=user.enterprise_id)
    if user.branch_id is not None and user_roles(user):
        return subtree_q("branch", user.branch)
    return Q(pk__in=[])


def link_for(request: HttpRequest, public_id: Any) -> LiveLink:
    """The link if the person asking may see it, else 404."""
    try:
        return (
            LiveLink.objects.filter(_link_q(request.user))
            .select_related("enterprise", "branch")
            .get(public_id=public_id)
        )
    except (LiveLink.DoesNotExist, ValueError):
        raise Http404("no such link") from None


def _customer(user: Any) -> bool:
    return bool(user.is_authenticated and user.enterprise_id is not None and has_role(user, Role.ENTERPRISE_USER))


def _form_for(kind: str, data: Any, *, customer: bool) -> Any:
    if kind == suspension.SUSPENSION and not customer:
        return SuspensionForm(data)
    return ReasonForm(data)


def _open(kind: str, link: LiveLink, user: Any, data: dict[str, Any]) -> LinkRequest:
    if kind == suspension.SUSPENSION:
        code = data.get("reason_code") or suspension.SuspensionReason.CUSTOMER
        return request_services.suspension_open(link=link, user=user, reason_code=code, reason=data["reason"])
    if kind == suspension.RESUMPTION:
        return request_services.resumption_open(link=link, user=user, reason=data["reason"])
    return request_services.termination_open(link=link, user=user, reason=data["reason"])


def _request_new(request: HttpRequest, public_id: Any, kind_slug: str, *, portal: bool) -> HttpResponse:
    kind = KINDS.get(kind_slug)
    if kind is None:
        raise Http404("no such request type")
    link = link_for(request, public_id)
    form = _form_for(kind, request.POST if request.method == "POST" else None, customer=portal)
    refusal = request_services.launch_refusal(link=link, kind=kind)
    if request.method == "POST":
        if not form.is_valid():
            show_form_errors(request, form)
        else:
            try:
                opened = _open(kind, link, request.user, form.cleaned_data)
            except CaseError as exc:
                show_case_error(request, exc)
            else:
                messages.success(request, _("申请已提交:%(ref)s") % {"ref": opened.case.reference})
                if portal:
                    return redirect("portal:case_detail", public_id=opened.case.public_id)
                return redirect("case_detail", public_id=opened.case.public_id)
    from casetypes import declaration

    return render(
        request,
        "links/requests/request_new.html",
        {
            "link": link,
            "form": form,
            "kind_label": declaration.case_type(kind).label,
            "refusal": refusal,
            "base_template": "portal/base.html" if portal else "base.html",
        },
    )


@staff_required
def link_request_new(request: HttpRequest, link_id: Any, request_kind: str) -> HttpResponse:
    return _request_new(request, link_id, request_kind, portal=False)


@login_required
def portal_link_request_new(request: HttpRequest, link_id: Any, request_kind: str) -> HttpResponse:
    if not _customer(request.user):
        raise PermissionDenied
    return _request_new(request, link_id, request_kind, portal=True)


def _renewal(case: OnboardingCase) -> LinkRequest:
    found = LinkRequest.objects.filter(case_id=case.pk, kind=cert_renewal.CODE).select_related("link").first()
    if found is None:
        raise Http404("not a renewal")
    return found


@staff_required
@require_POST
def request_certificate(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The counter maker enters the renewed certificate and hands it to the checker."""
    case = case_for(request, public_id)
    form = CertificateForm(request.POST)
    if not form.is_valid():
        show_form_errors(request, form)
        return redirect("case_detail", public_id=case.public_id)
    try:
        with transaction.atomic():
            request_services.certificate_submit(request=_renewal(case), user=request.user, **form.cleaned_data)
            case_services.case_transition(case=case, user=request.user, name="cert_renewal_counter_entered")
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("更新后的证书已录入,等待柜面复核"))
    return redirect("case_detail", public_id=case.public_id)


@login_required
@require_POST
def portal_request_certificate(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The customer enters the certificate renewed before expiry; head-office tech confirms it."""
    if not _customer(request.user):
        raise PermissionDenied
    case = case_for(request, public_id)
    form = CertificateForm(request.POST)
    if not form.is_valid():
        show_form_errors(request, form)
        return redirect("portal:case_detail", public_id=case.public_id)
    try:
        with transaction.atomic():
            request_services.certificate_submit(request=_renewal(case), user=request.user, **form.cleaned_data)
            case_services.case_transition(case=case, user=request.user, name="cert_renewal_submitted")
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("新证书已提交,等待总行科技部确认"))
    return redirect("portal:case_detail", public_id=case.public_id)


@staff_required
def link_retention(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Closing, retention and legal hold of a link; head office sets or releases the hold."""
    link = link_for(request, public_id)
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        action = request.POST.get("action")
        if not form.is_valid():
            show_form_errors(request, form)
        else:
            try:
                if action == "release":
                    request_services.legal_hold_release(
                        link=link, user=request.user, reason=form.cleaned_data["reason"]
                    )
                    messages.success(request, _("保全已解除"))
                else:
                    request_services.legal_hold_set(link=link, user=request.user, reason=form.cleaned_data["reason"])
                    messages.success(request, _("保全已设置"))
            except CaseError as exc:
                show_case_error(request, exc)
            else:
                return redirect("links_requests:link_retention", public_id=link.public_id)
    holds = link.events.filter(name__in=("legal_hold_set", "legal_hold_lifted", "purged")).select_related("actor")
    return render(
        request,
        "links/requests/retention.html",
        {
            "link": link,
            "form": form,
            "holds": holds.order_by("created_at", "pk"),
            "can_hold": has_role(request.user, Role.HEAD_OFFICE_APPROVER),
            "retention_years": request_services.retention_years(),
        },
    )
