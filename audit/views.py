from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from allauth.mfa.totp.views import ActivateTOTPView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Branch
from casetypes import declaration
from config.pagecache import cached_page
from onboarding import events
from onboarding import selectors as case_selectors
from onboarding.models import OnboardingCase
from onboarding.services import CaseError
from onboarding.web import show_case_error

from . import selectors, services
from .forms import AuditFilterForm, BreakGlassForm, CaseLookupForm
from .mfa import mfa_mark
from .models import AccessEvent


@dataclass
class UncountedPage:
    """A page of the audit log read without counting the whole log.

    The log is a union of every case event and access event: a COUNT of it costs as much as
    reading it all, on every page. A page reads one row more than it shows to know whether a
    next page exists, and offers previous/next instead of "page n of m".
    """

    number: int
    rows: list[Any]
    more: bool

    @staticmethod
    def number_of(value: Any) -> int:
        try:
            return max(1, min(int(value), 1_000_000))
        except (TypeError, ValueError):
            return 1

    @classmethod
    def of(cls, events: Any, number: int, size: int) -> UncountedPage:
        n = number
        start = (n - 1) * size
        rows = list(events[start : start + size + 1])
        return cls(number=n, rows=rows[:size], more=len(rows) > size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def has_next(self) -> bool:
        return self.more

    def has_previous(self) -> bool:
        return self.number > 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def next_page_number(self) -> int:
        return self.number + 1


def _auditor(request: HttpRequest) -> None:
    if not selectors.is_auditor(request.user):
        raise PermissionDenied


def _filtered(request: HttpRequest, *, first: int | None = None) -> tuple[AuditFilterForm, Any]:
    form = AuditFilterForm(request.GET or None)
    branches = list(Branch.objects.order_by("path"))
    form.fields["branch"].choices = [("", _("全部"))] + [(b.pk, b.name) for b in branches]  # type: ignore[attr-defined]
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "case": data["case"],
            "person": data["person"],
            "branch": next((b for b in branches if b.pk == data["branch"]), None),
            "date_from": data["date_from"],
            "date_to": data["date_to"],
        }
    elif form.is_bound:
        return form, None
    return form, selectors.audit_events(**filters, first=first)


def _state_label(code: str) -> str:
    return declaration.state_label(code)


def _row(ev: dict[str, Any]) -> dict[str, Any]:
    return {
        **ev,
        "at": timezone.localtime(ev["at"]),
        "kind_label": selectors.KIND_LABELS.get(ev["ev_kind"], ev["ev_kind"]),
        "name_label": (
            events.label(ev["ev_name"])
            if ev["src"] == "case"
            else selectors.READ_VIEWS.get(ev["ev_name"], ev["ev_name"])
        ),
        "person": ev["who_name"] or ev["who"] or ev["typed_username"],
        "from_label": _state_label(ev["from_st"]),
        "to_label": _state_label(ev["to_st"]),
    }


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    _auditor(request)
    return cached_page(request, "audit_log", lambda: _audit_log(request))


def _audit_log(request: HttpRequest) -> HttpResponse:
    size = settings.AUDIT_PAGE_SIZE
    number = UncountedPage.number_of(request.GET.get("page"))
    form, events = _filtered(request, first=number * size + 1)
    page = UncountedPage.of(events if events is not None else [], number, size)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/log.html",
        {"form": form, "page": page, "rows": [_row(ev) for ev in page], "query": query.urlencode()},
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "时间 Time",
    "来源 Source",
    "类型 Kind",
    "事件 Event",
    "案件编号 Case",
    "企业 Company",
    "机构 Branch",
    "用户名 Username",
    "姓名 Name",
    "原状态 From",
    "新状态 To",
    "事由 Reason",
    "地址 Address",
    "页面 Page",
]


def _csv_lines(events: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # UTF-8 byte order mark: Excel then reads the Chinese correctly
    yield writer.writerow(CSV_HEADER)
    for ev in events.iterator(chunk_size=500):
        r = _row(ev)
        yield writer.writerow(
            [
                r["at"].strftime("%Y-%m-%d %H:%M:%S"),
                r["src"],
                r["kind_label"],
                r["ev_name"],
                r["case_ref"] or "",
                r["company"] or "",
                r["branch_name"] or "",
                r["who"] or r["typed_username"],
                r["who_name"] or "",
                r["from_label"],
                r["to_label"],
                r["why"],
                r["address"],
                r["page"],
            ]
        )


@login_required
def audit_export(request: HttpRequest) -> HttpResponseBase:
    _auditor(request)
    _form, events = _filtered(request)
    if events is None:
        messages.error(request, _("筛选条件有误,未导出。"))
        return redirect("audit_log")
    services.access_record(
        kind=AccessEvent.Kind.EXPORT, actor=request.user, request=request, data={"filters": request.GET.dict()}
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in _csv_lines(events)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@login_required
def break_glass_lookup(request: HttpRequest) -> HttpResponse:
    """Find a case by its reference to ask for access to it."""
    if not services.may_break_glass(request.user):
        raise Http404
    form = CaseLookupForm(request.GET or None)
    if form.is_valid():
        case = OnboardingCase.objects.filter(reference__iexact=form.cleaned_data["reference"].strip()).first()
        if case is None:
            form.add_error("reference", _("没有这个编号的案件。"))
        else:
            return redirect("audit_break_glass_open", public_id=case.public_id)
    return render(request, "audit/break_glass_lookup.html", {"form": form})


@login_required
def break_glass_open_view(request: HttpRequest, public_id: Any) -> HttpResponse:
    """State a reason to read a case outside one's own branch subtree."""
    case = selectors.case_for_break_glass(user=request.user, public_id=public_id)
    if OnboardingCase.objects.filter(case_selectors.case_visible_q(request.user), pk=case.pk).exists():
        return redirect("case_detail", public_id=case.public_id)
    if selectors.active_grant(user=request.user, case=case):
        return redirect("audit_break_glass_case", public_id=case.public_id)
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.break_glass_open(
                user=request.user,
                case=case,
                ground=form.cleaned_data["ground"],
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            return redirect("audit_break_glass_case", public_id=case.public_id)
    return render(
        request,
        "audit/break_glass_open.html",
        {"case": case, "form": form, "minutes": settings.BREAK_GLASS_MINUTES},
    )


@login_required
def break_glass_case(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The read-only page of a case opened by break-glass; every view is recorded."""
    case, grant = selectors.case_get_with_grant(user=request.user, public_id=public_id)
    services.access_record(
        kind=AccessEvent.Kind.BREAK_GLASS_READ,
        actor=request.user,
        case=case,
        reason=grant.reason,
        request=request,
        data={"grant": grant.pk},
    )
    return render(
        request,
        "audit/case_readonly.html",
        {
            "case": case,
            "enterprise": case.company,
            "grant": grant,
            "events": case_selectors.case_timeline(case=case),
        },
    )


class TOTPEnrolView(ActivateTOTPView):
    """allauth's TOTP activation; the code just confirmed is this session's second factor.

    (allauth's own `authenticator_added` signal is sent on commit, too late for tests that
    run inside a transaction; this does it in the request.)
    """

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        mfa_mark(self.request.session, self.request.user)
        return response


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login form is replaced by the allauth login (password + TOTP).

    Someone logged in without admin rights is refused here, not sent round to the login
    page, which would send them straight back to the admin.
    """
    if request.user.is_authenticated:
        raise PermissionDenied
    query = request.META.get("QUERY_STRING", "")
    return redirect(f"{reverse('login')}?{query}" if query else reverse("login"))


def remove_security_key(request: HttpRequest, pk: int) -> HttpResponseBase:
    """allauth's removal of a security key, refused for the last key of a role that needs one
    (MFA_REQUIRE_SECURITY_KEY_ROLES): allauth asks its adapter only before removing TOTP."""
    from allauth.mfa.adapter import get_adapter as get_mfa_adapter
    from allauth.mfa.models import Authenticator
    from allauth.mfa.webauthn.views import remove_webauthn

    if request.user.is_authenticated:
        key = Authenticator.objects.filter(pk=pk, user_id=request.user.pk, type=Authenticator.Type.WEBAUTHN).first()
        if key is not None and not get_mfa_adapter().can_delete_authenticator(key):
            messages.error(request, _("您的岗位须使用安全密钥登录,不能移除唯一的安全密钥;请先添加另一个。"))
            return redirect("mfa_list_webauthn")
    return remove_webauthn(request, pk=pk)
