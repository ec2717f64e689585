"""Live-link pages: the staff list and page (branch subtree), the customer's pages on the portal
(own company), and the UKey loss request's actions. Every link and request is read through a
scoped selector (404 outside scope); the services decide."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from branches.models import Branch
from branches.roles import Role, has_role
from branches.scope import subtree_q
from config.once import once
from config.routes import route
from counter.models import UKey
from onboarding.selectors import page_key
from onboarding.web import AuthenticatedHttpRequest, run_action, share_enterprise, staff_required

from . import selectors, services
from .forms import LinkFilterForm, LossReportForm, ReasonForm, ReplacementForm
from .models import LinkRequest, LiveLink

View = Callable[..., HttpResponse]


def customer_required(view: View) -> View:
    """Enterprise users only (the portal's audience); staff get 403 here."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_active and user.enterprise_id is not None and has_role(user, Role.ENTERPRISE_USER)):  # type: ignore[union-attr]
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _loss_keys(operators: list[Any]) -> list[tuple[int, str]]:
    """The link's UKeys that can be reported lost now (in use, not already lost), from its
    operators as the page lists them (the current ones in the order they started)."""
    reportable = (UKey.Status.ISSUED, UKey.Status.DOWNLOADED, UKey.Status.ACTIVATED)
    current = sorted((r for r in operators if r.ended_at is None), key=lambda r: (r.started_at, r.pk))
    return [
        (r.ukey.pk, f"{r.ukey.serial} · {r.name}({r.role_label})")
        for r in current
        if r.ukey is not None and r.ukey.status in reportable
    ]


def _day(when: Any) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d") if when else ""


def _minute(when: Any) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when else ""


def _link_rows(link: LiveLink, operators: list[Any]) -> dict[str, Any]:
    """The link page's accounts and operators as they show, worked out before the template
    (issue 26): dates and labels rather than filters per row."""
    accounts = [
        {"row": a, "started": _day(a.started_at), "ended": _day(a.ended_at)} for a in selectors.link_accounts(link)
    ]
    operator_rows = [
        {
            "row": o,
            "role": o.role_label,
            "serial": o.ukey_serial or "—",
            "ukey_status": o.ukey.get_status_display() if o.ukey else "",
            "ukey_lost": o.ukey is not None and o.ukey.status == UKey.Status.LOST,
            "expires": o.ukey_expires_on.strftime("%Y-%m-%d") if o.ukey_expires_on else "—",
            "started": _day(o.started_at),
            "ended": _day(o.ended_at),
        }
        for o in operators
    ]
    return {"accounts": accounts, "operator_rows": operator_rows}


def _pages(link: LiveLink, *, portal: bool) -> tuple[str, str]:
    """The addresses of the link's history and requests pages on the reader's side."""
    prefix = "links:portal_link" if portal else "links:link"
    return route(f"{prefix}_history", link.public_id), route(f"{prefix}_requests", link.public_id)


def _recent(link: LiveLink, *, portal: bool) -> tuple[dict[str, Any], set[str] | None]:
    """The link page's newest events and requests and where the older ones are; and the kinds
    of the link's open requests when the page holds all its requests (else None: ask)."""
    history_url, requests_url = _pages(link, portal=portal)
    history = selectors.link_history_page(link, newest=True)
    requests = selectors.link_requests_page(link, newest=True)
    open_kinds = None if requests.older else {r.kind for r in requests.rows if r.is_open}
    return {
        "history": history.rows,
        "history_older_url": f"{history_url}?before={history.older}" if history.older else "",
        "requests": requests.rows[::-1],  # newest first
        "requests_older_url": f"{requests_url}?before={requests.older}" if requests.older else "",
    }, open_kinds


def _log_page(request: AuthenticatedHttpRequest, link: LiveLink, *, portal: bool, what: str) -> HttpResponse:
    """A page of the link's history (`what="history"`) or of its requests: what the link page
    leaves out. `?before=<id>` older, `?after=<id>` newer."""
    before, after = page_key(request.GET.get("before", "")), page_key(request.GET.get("after", ""))
    if what == "history":
        page = selectors.link_history_page(link, before=before, after=after)
        rows = page.rows
    else:
        page = selectors.link_requests_page(link, before=before, after=after)
        rows = page.rows[::-1]  # newest first: the newer page's link comes first
    back = reverse("links:portal_link" if portal else "links:link_detail", args=[link.public_id])
    return render(
        request,
        "links/log_page.html",
        {
            "base_template": "portal/base.html" if portal else "base.html",
            "link": link,
            "portal": portal,
            "what": what,
            what: rows,
            "older_url": f"?before={page.older}" if page.older else "",
            "newer_url": f"?after={page.newer}" if page.newer else "",
            "back_url": f"{back}#{what}",
        },
    )


def _link_context(
    request: AuthenticatedHttpRequest, link: LiveLink, *, portal: bool = False, can_report: bool = True
) -> dict[str, Any]:
    from .requests import account_change, operator_change, suspension, ukey_loss

    # Each table read once: the loss form's keys come from the operators listed, the frame's
    # company name from the link's own row. The requests are paged (`_recent`): the refusal takes
    # the open ones' kinds from the page when it lists them all, else reads them.
    operators = selectors.link_operators(link)
    keys = _loss_keys(operators)
    share_enterprise(request.user, [link.enterprise])
    offered = {
        "operator_change": operator_change.CODE,
        "account_change": account_change.CODE,
        "suspension": suspension.SUSPENSION,
        "resumption": suspension.RESUMPTION,
        "termination": LinkRequest.TERMINATION,
    }
    recent, open_kinds = _recent(link, portal=portal)
    if open_kinds is None:  # more requests than the page lists: their open ones' kinds
        open_kinds = selectors.link_open_kinds(link)
    refused = {
        kind: services.launch_refusal(link=link, kind=kind, open_kinds=open_kinds)
        for kind in (*offered.values(), ukey_loss.CODE)
    }
    return {
        "link": link,
        **_link_rows(link, operators),
        **recent,
        "loss_form": LossReportForm(keys=keys) if can_report else None,  # drawn for who may report only
        "loss_refusal": refused[ukey_loss.CODE],
        "loss_keys": keys,
        # What the link takes now: a request the launch controls would refuse is not offered, and
        # the page says why (one already open, a termination under way, a suspended link).
        "refused": {name: refused[kind] for name, kind in offered.items()},
        "launch_notes": sorted(
            {
                reason
                for kind in offered.values()
                if (reason := refused[kind]) and reason != services.suspended_refusal(link=link, kind=kind)
            }
        ),
    }


# --- staff -------------------------------------------------------------------------------------------


@staff_required
def link_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    subtree = Branch.objects.filter(subtree_q("", user.branch))  # type: ignore[arg-type]
    form = LinkFilterForm(request.GET or None)
    form.fields["branch"].choices = [("", _("全部"))] + [(str(b.pk), b.name) for b in subtree]  # type: ignore[attr-defined]
    qs = selectors.link_list(user=user)
    if form.is_bound and not form.is_valid():
        qs = qs.none()
    elif form.is_valid():
        data = form.cleaned_data
        qs = selectors.link_filter(
            qs,
            branch=subtree.filter(pk=data["branch"]).first() if data["branch"] else None,
            status=data["status"],
            expiring_days=data["expiring"],
            dormant=data["dormant"],
            search=data["q"].strip(),
        )
    # What a row shows (`LinkRow`): the company's and branch's names, not the data version's
    # and the onboarding case's whole rows joined to every link of the page (issue 26).
    qs = qs.select_related(None).select_related("enterprise", "branch").only(*LIST_SHOWN)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "links/link_list.html",
        {
            "form": form,
            "page": page,
            "rows": link_list_rows(page),
            "query": query.urlencode(),
            "dormant_days": selectors.dormant_days(),
        },
    )


LIST_SHOWN = (
    "public_id", "reference", "status", "certificate_expires_on", "last_activity_at", "enterprise__name", "branch__name",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LinkRow:
    """What a row of the live-links list shows, worked out before the template (issue 26)."""

    url: str
    reference: str
    company_name: str
    status_label: str
    branch_name: str
    expires: str
    last_activity: str


_UUID_SLOT = uuid.UUID(int=0)


def link_list_rows(links: Any) -> list[LinkRow]:
    # One reverse for the page: every link's address is the same path around its id.
    url = reverse("links:link_detail", args=[_UUID_SLOT]).replace(str(_UUID_SLOT), "{}")
    return [
        LinkRow(
            url=url.format(link.public_id),
            reference=link.reference,
            company_name=link.enterprise.name,
            status_label=link.get_status_display(),
            branch_name=link.branch.name,
            expires=link.certificate_expires_on.strftime("%Y-%m-%d") if link.certificate_expires_on else "—",
            last_activity=timezone.localtime(link.last_activity_at).strftime("%Y-%m-%d"),
        )
        for link in links
    ]


def _page_link(request: AuthenticatedHttpRequest, link_id: Any) -> LiveLink:
    """The link as its pages show it, named on the request: its read becomes an access event of
    the onboarding case it came from (`audit.middleware`), as a case page's does."""
    link = selectors.link_get_for_page(user=request.user, public_id=link_id)
    request.link_read = link  # type: ignore[attr-defined]
    return link


@staff_required
def link_detail(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = _page_link(request, link_id)
    can_report = has_role(request.user, Role.COUNTER_MAKER)
    context = _link_context(request, link, can_report=can_report)
    context["can_report"] = can_report
    return render(request, "links/link_detail.html", context)


@staff_required
def link_history(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = _page_link(request, link_id)
    return _log_page(request, link, portal=False, what="history")


@staff_required
def link_requests(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = _page_link(request, link_id)
    return _log_page(request, link, portal=False, what="requests")


def _report(request: AuthenticatedHttpRequest, link: LiveLink, back: str) -> HttpResponse:
    form = LossReportForm(request.POST, keys=_loss_keys(list(link.current_operators().select_related("ukey"))))

    def act() -> None:
        ukey = UKey.objects.get(pk=form.cleaned_data["ukey"], case_id=link.onboarding_case_id)
        services.ukey_loss_report(link=link, ukey=ukey, user=request.user, reason=form.cleaned_data["reason"])

    run_action(request, form, act, _("挂失已生效:该UKey已立即停止使用"))
    return redirect(back)


@staff_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def link_report_loss(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = selectors.link_get_for_user(user=request.user, public_id=link_id)
    return _report(request, link, reverse("links:link_detail", args=[link.public_id]) + "#requests")


def _request_back(req: LinkRequest) -> HttpResponse:
    return redirect(reverse("case_detail", kwargs={"public_id": req.case.public_id}) + "#link-request")


@staff_required
@require_POST
@once
def request_replace(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    form = ReplacementForm(request.POST)
    run_action(
        request,
        form,
        lambda: services.ukey_replacement_make(request=req, user=request.user, **form.cleaned_data),
        _("补办已录入,等待柜面复核"),
    )
    return _request_back(req)


@staff_required
@require_POST
def request_confirm(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    run_action(
        request,
        None,
        lambda: services.ukey_replacement_confirm(request=req, user=request.user),
        _("复核通过:新UKey已生效,挂失补办办结"),
    )
    return _request_back(req)


@staff_required
@require_POST
def request_cancel(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    form = ReasonForm(request.POST)
    run_action(
        request,
        form,
        lambda: services.ukey_replacement_cancel(request=req, user=request.user, reason=form.cleaned_data["reason"]),
        _("补办录入已取消,退回柜面经办"),
    )
    return _request_back(req)


@staff_required
@require_POST
def request_release(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    req = selectors.request_for_case_for_user(user=request.user, public_id=case_id)
    form = ReasonForm(request.POST)
    run_action(
        request,
        form,
        lambda: services.ukey_loss_release(request=req, user=request.user, reason=form.cleaned_data["reason"]),
        _("已解除挂失,该UKey恢复使用"),
    )
    return _request_back(req)


# --- the customer, on the portal ----------------------------------------------------------------------------


@customer_required
def portal_link_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    # The columns a row shows, and the company (the frame names it): no branch, version or case.
    links = list(
        selectors.link_list(user=request.user)
        .select_related(None)
        .select_related("enterprise")
        .only("public_id", "reference", "status", "modules", "certificate_expires_on", "went_live_at", "enterprise")
    )
    share_enterprise(request.user, [link.enterprise for link in links])
    return render(request, "links/portal/link_list.html", {"rows": portal_link_rows(links)})


@dataclass(frozen=True, slots=True)
class PortalLinkRow:
    """A row of the company's live links, worked out before the template (issue 26)."""

    url: str
    reference: str
    status_label: str
    modules: str
    expires: str
    went_live: str


def portal_link_rows(links: list[LiveLink]) -> list[PortalLinkRow]:
    # One reverse for the page: every link's address is the same path around its id.
    url = reverse("links:portal_link", args=[_UUID_SLOT]).replace(str(_UUID_SLOT), "{}")
    return [
        PortalLinkRow(
            url=url.format(link.public_id),
            reference=link.reference,
            status_label=link.get_status_display(),
            modules="、".join(link.module_labels),
            expires=link.certificate_expires_on.strftime("%Y-%m-%d") if link.certificate_expires_on else "—",
            went_live=timezone.localtime(link.went_live_at).strftime("%Y-%m-%d") if link.went_live_at else "",
        )
        for link in links
    ]


@customer_required
def portal_link_detail(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = _page_link(request, link_id)
    return render(request, "links/portal/link_detail.html", _link_context(request, link, portal=True))


@customer_required
def portal_link_history(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = _page_link(request, link_id)
    return _log_page(request, link, portal=True, what="history")


@customer_required
def portal_link_requests(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = _page_link(request, link_id)
    return _log_page(request, link, portal=True, what="requests")


@customer_required
@require_POST
@once
def portal_report_loss(request: AuthenticatedHttpRequest, link_id: Any) -> HttpResponse:
    link = selectors.link_get_for_user(user=request.user, public_id=link_id)
    return _report(request, link, reverse("links:portal_link", args=[link.public_id]) + "#requests")
