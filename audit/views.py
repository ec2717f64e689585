from __future__ import annotations

import html
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from allauth.mfa.totp.views import ActivateTOTPView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from onboarding import events
from onboarding import selectors as case_selectors
from onboarding.models import OnboardingCase
from onboarding.services import CaseError
from onboarding.web import show_case_error

from . import selectors, services
from .exports import _state_label, audit_filters
from .forms import BreakGlassForm, CaseLookupForm
from .mfa import mfa_mark
from .models import AccessEvent


@dataclass
class KeysetPage:
    """A page of the audit log, found by the key of a row next to it, not by its number.

    The log is a union of every case event and access event: neither a COUNT of it nor an
    OFFSET into it is cheap (page 2000 read and threw away 2000 pages). A page is the rows
    after the last row of the page before (`after`) or before the first row of the next one
    (`before`); it reads one row more than it shows to know whether another page follows, and
    offers previous/next instead of "page n of m".
    """

    rows: list[Any]
    newer: selectors.AuditKey | None  # the `before` of the previous page, None on the first
    older: selectors.AuditKey | None  # the `after` of the next page, None on the last

    @classmethod
    def read(
        cls, filters: dict[str, Any], *, after: selectors.AuditKey | None, before: selectors.AuditKey | None, size: int
    ) -> KeysetPage:
        if before is not None:
            rows = list(selectors.audit_events(**filters, before=before, limit=size + 1)[: size + 1])
            more_newer = len(rows) > size
            rows = rows[:size][::-1]
            if not more_newer:  # came back to the top: the first page as it is now
                return cls.read(filters, after=None, before=None, size=size)
            return cls(
                rows=rows,
                newer=selectors.AuditKey.of_row(rows[0]),
                older=selectors.AuditKey.of_row(rows[-1]) if rows else before,
            )
        rows = list(selectors.audit_events(**filters, after=after, limit=size + 1)[: size + 1])
        shown = rows[:size]
        return cls(
            rows=shown,
            newer=selectors.AuditKey.of_row(shown[0]) if after is not None and shown else after,
            older=selectors.AuditKey.of_row(shown[-1]) if len(rows) > size else None,
        )

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def has_next(self) -> bool:
        return self.older is not None

    def has_previous(self) -> bool:
        return self.newer is not None


def _auditor(request: HttpRequest) -> None:
    if not selectors.is_auditor(request.user):
        raise PermissionDenied


_UUID_SLOT = uuid.UUID(int=0)


def _rows_html(rows: list[dict[str, Any]]) -> SafeString:
    """The table's body rows, the markup `audit/log.html`'s loop wrote, in one pass over the
    selector's rows (issue 26: 51 rows of a dozen `{{ }}` each were most of the page's
    template time). What repeats from row to row (a kind's label, an event's name, a state's
    label) is translated and escaped once a page."""
    escape = html.escape
    # One reverse for the page: every case's address is the same path around its id.
    case_url = escape(reverse("case_detail", args=[_UUID_SLOT])).replace(str(_UUID_SLOT), "{}")
    tz = timezone.get_current_timezone()
    kinds: dict[str, str] = {}
    names: dict[tuple[str, str], str] = {}
    states: dict[str, str] = {}

    def kind_of(code: str) -> str:
        found = kinds.get(code)
        if found is None:
            found = kinds[code] = escape(str(selectors.KIND_LABELS.get(code, code)))
        return found

    def name_of(src: str, code: str) -> str:
        found = names.get((src, code))
        if found is None:
            label = events.label(code) if src == "case" else selectors.READ_VIEWS.get(code, code)
            found = names[(src, code)] = escape(str(label))
        return found

    def state_of(code: str) -> str:
        found = states.get(code)
        if found is None:
            found = states[code] = str(_state_label(code))
        return found

    out = []
    for r in rows:
        case_ref = r["case_ref"]
        case = (
            f'<a href="{case_url.format(r["case_uuid"])}">{escape(case_ref)}</a>'
            f'<div class="sub">{escape(str(r["company"]))}</div>'
            if case_ref
            else "—"
        )
        who, who_name = r["who"], r["who_name"]
        person = escape(who_name or who or r["typed_username"] or "—")
        username = f' <span class="sub">{escape(who)}</span>' if who and who_name else ""
        from_label, to_label = state_of(r["from_st"]), state_of(r["to_st"])
        what = escape(f"{from_label} → {to_label}") if from_label or to_label else name_of(r["src"], r["ev_name"])
        why = f'<div class="reason">{escape(r["why"])}</div>' if r["why"] else ""
        out.append(
            f'\n    <tr class="src-{escape(r["src"])} kind-{escape(r["ev_kind"])}">'
            f'\n      <td class="mono">{r["at"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")}</td>'
            f"\n      <td>{kind_of(r['ev_kind'])}</td>"
            f"\n      <td>{case}</td>"
            f"\n      <td>{escape(r['branch_name'] or '—')}</td>"
            f"\n      <td>{person}{username}</td>"
            f"\n      <td>{what}{why}</td>"
            f'\n      <td class="mono">{escape(r["address"] or "")}</td>'
            "\n    </tr>\n  "
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    _auditor(request)
    return _audit_log(request)


def _audit_log(request: HttpRequest) -> HttpResponse:
    form, filters = audit_filters(request.GET)
    if filters is None:
        page = KeysetPage(rows=[], newer=None, older=None)
    else:
        page = KeysetPage.read(
            filters,
            after=selectors.AuditKey.parse(request.GET.get("after")),
            before=selectors.AuditKey.parse(request.GET.get("before")),
            size=settings.AUDIT_PAGE_SIZE,
        )
    query = request.GET.copy()
    for param in ("after", "before", "page"):
        query.pop(param, None)
    rows = page.rows
    return render(
        request,
        "audit/log.html",
        {"form": form, "page": page, "rows": rows, "rows_html": _rows_html(rows), "query": query.urlencode()},
    )


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
