"""Counter pages. Every case is fetched through `case_for` (404 outside scope) and every
row through its case; the services decide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST

from config.once import once
from onboarding.models import OnboardingCase
from onboarding.web import (
    AuthenticatedHttpRequest,
    case_for,
    case_page_refused,
    run_action,
    seen_version,
    staff_required,
)

from . import selectors, services
from .forms import (
    ActivationForm,
    CounterVisitForm,
    IdentityCheckForm,
    OperatorForm,
    ReasonForm,
    UKeyIssueForm,
    UKeyReplaceForm,
)


def _back(case: OnboardingCase) -> HttpResponse:
    return redirect(reverse("case_detail", kwargs={"public_id": case.public_id}) + "#counter")


def _run(
    request: HttpRequest, case: OnboardingCase, form: Any, action: Callable[[], Any], done: str, *, panel_form: str = ""
) -> HttpResponse:
    """Run the action; refused, a form the panel draws (`panel_form`: its name there) comes back
    on the case page with what was typed, the others back to the panel."""
    if not run_action(request, form, action, done) and panel_form:
        return case_page_refused(request, case, **{panel_form: form})
    return _back(case)


@staff_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def operator_add(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = OperatorForm(request.POST, enterprise=case.enterprise)
    return _run(
        request,
        case,
        form,
        lambda: services.operator_add(
            case=case, user=request.user, expected_version=seen_version(request), **form.cleaned_data
        ),
        _("操作员已登记"),
        panel_form="operator_form",
    )


@staff_required
@require_POST
def operator_remove(request: AuthenticatedHttpRequest, public_id: Any, item_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    operator = get_object_or_404(case.operators, public_id=item_id)
    form = ReasonForm(request.POST)
    return _run(
        request,
        case,
        form,
        lambda: services.operator_remove(
            operator=operator,
            user=request.user,
            expected_version=seen_version(request),
            reason=form.cleaned_data["reason"],
        ),
        _("操作员已删除"),
    )


@staff_required
@require_POST
def identity_check(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = IdentityCheckForm(request.POST)
    return _run(
        request,
        case,
        form,
        lambda: services.identity_check_make(
            case=case, user=request.user, expected_version=seen_version(request), **form.cleaned_data
        ),
        _("身份核验已录入,待复核"),
        panel_form="identity_form",
    )


@staff_required
@require_POST
def ukey_issue(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = UKeyIssueForm(request.POST, case=case)

    def action() -> Any:
        data = dict(form.cleaned_data)
        operator = get_object_or_404(case.operators, pk=data.pop("operator"))
        return services.ukey_issuance_make(
            case=case, user=request.user, expected_version=seen_version(request), operator=operator, **data
        )

    return _run(request, case, form, action, _("UKey发放已录入,待复核"), panel_form="ukey_form")


@staff_required
@require_POST
def cert_activation(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = ActivationForm(request.POST, case=case)

    def action() -> Any:
        ukey = get_object_or_404(case.ukeys, pk=form.cleaned_data["ukey"])
        return services.cert_activation_make(
            case=case,
            user=request.user,
            expected_version=seen_version(request),
            ukey=ukey,
            notes=form.cleaned_data["notes"],
        )

    return _run(request, case, form, action, _("证书激活已录入,待复核"), panel_form="activation_form")


@staff_required
@require_POST
def entry_confirm(request: AuthenticatedHttpRequest, public_id: Any, item_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    entry = get_object_or_404(case.counter_entries, public_id=item_id)
    return _run(
        request,
        case,
        None,
        lambda: services.entry_confirm(entry=entry, user=request.user, expected_version=seen_version(request)),
        _("已复核,事项生效"),
    )


@staff_required
@require_POST
def entry_cancel(request: AuthenticatedHttpRequest, public_id: Any, item_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    entry = get_object_or_404(case.counter_entries, public_id=item_id)
    form = ReasonForm(request.POST)
    return _run(
        request,
        case,
        form,
        lambda: services.entry_cancel(
            entry=entry, user=request.user, expected_version=seen_version(request), reason=form.cleaned_data["reason"]
        ),
        _("已取消"),
    )


@staff_required
@require_POST
def counter_visit(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The maker records one visit: identity check and each operator's K宝, one form, all or nothing."""
    case = case_for(request, public_id)
    work = selectors.counter_work(case=case)
    form = CounterVisitForm(
        request.POST, operators=work["operators_without_key"], identity_needed=work["identity_needed"]
    )
    return _run(
        request,
        case,
        form,
        lambda: services.counter_visit_make(
            case=case,
            user=request.user,
            identity=form.identity(),
            issuances=form.issuances(),
            expected_version=seen_version(request),
        ),
        _("已录入,待复核"),
        panel_form="visit_form",
    )


@staff_required
@require_POST
def activations(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The maker records the ticked keys' download (if not yet) and their activation, one action."""
    case = case_for(request, public_id)
    wanted = {v for v in request.POST.getlist("ukeys")[:50]}
    keys = [k for k in selectors.keys_to_activate(case=case) if str(k.public_id) in wanted]
    return _run(
        request,
        case,
        None,
        lambda: services.activations_make(
            case=case, user=request.user, ukeys=keys, expected_version=seen_version(request)
        ),
        _("证书激活已录入,待复核"),
    )


@staff_required
@require_POST
def confirm_all(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The checker confirms every pending entry of one maker on the case, one action."""
    case = case_for(request, public_id)
    maker_id = request.POST.get("maker", "")
    entry = case.counter_entries.filter(maker_id=int(maker_id) if maker_id.isdigit() else 0).first()
    if entry is None:
        return _back(case)
    return _run(
        request,
        case,
        None,
        lambda: services.entries_confirm_all(
            case=case, user=request.user, maker=entry.maker, expected_version=seen_version(request)
        ),
        _("已复核,事项生效"),
    )


UKEY_ACTIONS: dict[str, tuple[Callable[..., Any], bool, str]] = {
    # action: (service, takes a reason, message; marked here, translated when shown)
    "download": (services.ukey_download_record, False, gettext_noop("证书下载已登记")),
    "lose": (services.ukey_loss_report, True, gettext_noop("已挂失")),
    "release": (services.ukey_loss_release, True, gettext_noop("已解挂")),
    "revoke": (services.ukey_revoke, True, gettext_noop("已注销")),
}


@staff_required
@require_POST
def ukey_action(request: AuthenticatedHttpRequest, public_id: Any, item_id: Any, action: str) -> HttpResponse:
    case = case_for(request, public_id)
    ukey = get_object_or_404(case.ukeys, public_id=item_id)
    if action == "replace":
        form: Any = UKeyReplaceForm(request.POST)
        return _run(
            request,
            case,
            form,
            lambda: services.ukey_issuance_make(
                case=case,
                user=request.user,
                expected_version=seen_version(request),
                operator=ukey.operator,
                replaces=ukey,
                **form.cleaned_data,
            ),
            _("补办已录入,待复核"),
        )
    if action not in UKEY_ACTIONS:
        return _back(case)
    service, takes_reason, done = UKEY_ACTIONS[action]
    form = ReasonForm(request.POST)

    def run() -> Any:
        extra = {"reason": form.cleaned_data["reason"]} if takes_reason else {}
        return service(ukey=ukey, user=request.user, **extra)

    return _run(request, case, form, run, _(done))


@staff_required
def expiring(request: HttpRequest) -> HttpResponse:
    try:
        days = max(1, min(int(request.GET.get("days", selectors.EXPIRY_WINDOW_DAYS)), 366))
    except ValueError:
        days = selectors.EXPIRY_WINDOW_DAYS
    keys = list(selectors.ukeys_expiring(user=request.user, within_days=days)[:500])
    return render(request, "counter/expiring.html", {"keys": keys, "days": days})
