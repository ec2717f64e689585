"""The pages for API clients and webhook endpoints, for both sides that own them.

- a company's portal administrator at /portal/integrations/: clients and endpoints of that company;
- a bank administrator (permission `webhooks.manage_bank_integrations`, a staff user) at
  /integrations/: clients and endpoints of branches in their subtree, clients with staff roles.

One set of views serves both; a `Side` says who may open the page, which rows it lists and
who owns what it creates. Object ids travel in the POST body, not the URL, and are looked up
among the rows the side lists: another company's or branch's id finds nothing (the page says
so and changes nothing). Secrets are shown once, on the response to the POST that made them,
and never again. Every change is an audit event (recorded by the services).
"""

from __future__ import annotations

import uuid
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from branches.models import Branch
from branches.roles import STAFF_ROLES, Role
from branches.scope import subtree_q
from onboarding.services import CaseError
from portal.services import is_enterprise_admin
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

from . import services
from .models import COMPANY_SCOPES, ApiClient, Scope


class ClientForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("名称"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("权限范围"),
        choices=[(s.value, s.label) for s in COMPANY_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class EndpointForm(forms.Form):
    url = forms.URLField(label=gettext_lazy("地址"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=gettext_lazy("订阅事件"),
        choices=[c for c in WebhookEvent.choices if c[0] != WebhookEvent.TEST],
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(label=gettext_lazy("说明"), max_length=200, required=False)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


def _subtree_branches(user: Any) -> QuerySet[Branch]:
    return Branch.objects.filter(subtree_q("", user.branch)).order_by("path")


class BranchChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.code})"


class BankClientForm(ClientForm):
    branch = BranchChoice(label=gettext_lazy("所属机构(可见其下级机构的案件)"), queryset=Branch.objects.none())
    roles = forms.MultipleChoiceField(
        label=gettext_lazy("角色"),
        choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES],
        widget=forms.CheckboxSelectMultiple,
    )
    field_order = ["name", "branch", "roles", "scopes"]

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["branch"].queryset = _subtree_branches(user)  # type: ignore[attr-defined]
        self.fields["scopes"].choices = Scope.choices  # type: ignore[attr-defined]  # the test gateway too


class BankEndpointForm(EndpointForm):
    branch = BranchChoice(label=gettext_lazy("所属机构(推送其下级机构的案件)"), queryset=Branch.objects.none())
    field_order = ["url", "branch", "events", "description"]

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["branch"].queryset = _subtree_branches(user)  # type: ignore[attr-defined]


class Side:
    """Whose integrations a page manages."""

    key = ""
    template = ""
    client_form: type[ClientForm] = ClientForm
    endpoint_form: type[EndpointForm] = EndpointForm

    def allowed(self, user: Any) -> bool:
        raise NotImplementedError

    def clients(self, user: Any) -> QuerySet[ApiClient]:
        raise NotImplementedError

    def endpoints(self, user: Any) -> QuerySet[WebhookEndpoint]:
        raise NotImplementedError

    def owner(self, user: Any, cleaned: dict[str, Any]) -> dict[str, Any]:
        """Who owns what the form creates (enterprise= or branch=)."""
        raise NotImplementedError

    def client_owner(self, user: Any, cleaned: dict[str, Any]) -> dict[str, Any]:
        return self.owner(user, cleaned)

    def url(self, what: str = "") -> str:
        return f"{self.key}_{what}" if what else self.key


class CompanySide(Side):
    key = "integrations"
    template = "portal/integrations.html"

    def allowed(self, user: Any) -> bool:
        return is_enterprise_admin(user)

    def clients(self, user: Any) -> QuerySet[ApiClient]:
        return ApiClient.objects.filter(enterprise_id=user.enterprise_id)

    def endpoints(self, user: Any) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.filter(enterprise_id=user.enterprise_id)

    def owner(self, user: Any, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {"enterprise": user.enterprise}


class BankSide(Side):
    key = "bank_integrations"
    template = "api/bank_integrations.html"
    client_form = BankClientForm
    endpoint_form = BankEndpointForm

    def allowed(self, user: Any) -> bool:
        return webhook_services.is_bank_integration_admin(user)

    def clients(self, user: Any) -> QuerySet[ApiClient]:
        return ApiClient.objects.filter(subtree_q("branch", user.branch)).select_related("branch")

    def endpoints(self, user: Any) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.filter(subtree_q("branch", user.branch)).select_related("branch")

    def owner(self, user: Any, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {"branch": cleaned["branch"]}

    def client_owner(self, user: Any, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {"branch": cleaned["branch"], "roles": cleaned["roles"]}


COMPANY = CompanySide()
BANK = BankSide()


def _uuids(value: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(value)]
    except ValueError:
        return []


def side_required(view: Any) -> Any:
    """The side's administrators only; everyone else gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, side: Side, **kwargs: Any) -> HttpResponse:
        if not side.allowed(request.user):
            raise PermissionDenied
        return view(request, *args, side=side, **kwargs)

    return wrapper


def _page(
    request: HttpRequest, side: Side, *, shown_secret: str = "", shown_for: str = "", **forms_: Any
) -> HttpResponse:
    user = request.user
    endpoints = side.endpoints(user)
    clients = list(
        side.clients(user)
        .select_related("application", "user")
        .prefetch_related("user__groups")
        .order_by("-created_at")
    )
    roles, scopes, kinds = dict(Role.choices), dict(Scope.choices), dict(WebhookEvent.choices)
    for c in clients:
        c.role_labels = "、".join(str(roles[g.name]) for g in c.user.groups.all() if g.name in roles)  # type: ignore[attr-defined]
        c.scope_labels = "、".join(str(scopes.get(x, x)) for x in c.scope_list)  # type: ignore[attr-defined]
    endpoint_rows = list(endpoints.order_by("-created_at"))
    for e in endpoint_rows:
        e.event_labels = "、".join(str(kinds.get(x, x)) for x in e.events)  # type: ignore[attr-defined]
    response = render(
        request,
        side.template,
        {
            "side": side.key,
            "urls": {
                what: side.url(what)
                for what in ("client_create", "client_action", "endpoint_create", "endpoint_action")
            },
            "clients": clients,
            "now": timezone.now(),
            "endpoints": endpoint_rows,
            "deliveries": WebhookDelivery.objects.filter(endpoint__in=endpoints.values("pk"))
            .select_related("endpoint")
            .prefetch_related("log")
            .order_by("-created_at")[:30],
            "client_form": forms_.get("client_form") or side.client_form(user=user),
            "endpoint_form": forms_.get("endpoint_form") or side.endpoint_form(user=user),
            "shown_secret": shown_secret,
            "shown_for": shown_for,
        },
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _client(request: HttpRequest, side: Side) -> ApiClient | None:
    try:
        return side.clients(request.user).select_related("application").get(public_id=request.POST.get("client", ""))
    except (ApiClient.DoesNotExist, ValueError, ValidationError):
        messages.error(request, _("没有找到该客户端。"))
        return None


def _endpoint(request: HttpRequest, side: Side) -> WebhookEndpoint | None:
    try:
        return side.endpoints(request.user).get(public_id=request.POST.get("endpoint", ""))
    except (WebhookEndpoint.DoesNotExist, ValueError, ValidationError):
        messages.error(request, _("没有找到该推送地址。"))
        return None


@side_required
def integrations(request: HttpRequest, side: Side) -> HttpResponse:
    return _page(request, side)


@side_required
@require_POST
def client_create(request: HttpRequest, side: Side) -> HttpResponse:
    form = side.client_form(request.POST, user=request.user)
    if not form.is_valid():
        return _page(request, side, client_form=form)
    try:
        creds = services.api_client_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
            request=request,
            **side.client_owner(request.user, form.cleaned_data),
        )
    except CaseError as exc:
        messages.error(request, exc.message)
        return redirect(side.url())
    return _page(request, side, shown_secret=creds.client_secret, shown_for=creds.client_id)


@side_required
@require_POST
def client_action(request: HttpRequest, side: Side) -> HttpResponse:
    client = _client(request, side)
    if client is None:
        return redirect(side.url())
    try:
        if request.POST.get("action") == "rotate":
            creds = services.api_client_rotate(client=client, actor=request.user, request=request)
            return _page(request, side, shown_secret=creds.client_secret, shown_for=creds.client_id)
        if request.POST.get("action") == "revoke":
            services.api_client_revoke(client=client, actor=request.user, request=request)
            messages.success(request, _("客户端已停用。"))
    except CaseError as exc:
        messages.error(request, exc.message)
    return redirect(side.url())


@side_required
@require_POST
def endpoint_create(request: HttpRequest, side: Side) -> HttpResponse:
    form = side.endpoint_form(request.POST, user=request.user)
    if not form.is_valid():
        return _page(request, side, endpoint_form=form)
    try:
        endpoint = webhook_services.endpoint_add(
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            created_by=request.user,
            request=request,
            **side.owner(request.user, form.cleaned_data),
        )
    except CaseError as exc:
        form.add_error("url", exc.message)
        return _page(request, side, endpoint_form=form)
    return _page(request, side, shown_secret=endpoint.secret, shown_for=endpoint.url)


@side_required
@require_POST
def endpoint_action(request: HttpRequest, side: Side) -> HttpResponse:
    endpoint = _endpoint(request, side)
    if endpoint is None:
        return redirect(side.url())
    action = request.POST.get("action")
    who: dict[str, Any] = {"actor": request.user, "request": request}
    if action == "rotate":
        secret = webhook_services.endpoint_rotate_secret(endpoint=endpoint, **who)
        return _page(request, side, shown_secret=secret, shown_for=endpoint.url)
    if action == "test":
        try:
            webhook_services.delivery_test(endpoint=endpoint, **who)
            messages.success(request, _("测试事件已排队发送。"))
        except CaseError as exc:
            messages.error(request, exc.message)
    elif action == "enable":
        webhook_services.endpoint_enable(endpoint=endpoint, **who)
        messages.success(request, _("推送地址已重新启用。"))
    elif action == "send_again":
        delivery = endpoint.deliveries.filter(public_id__in=_uuids(request.POST.get("delivery", ""))).first()
        if delivery is None:
            messages.error(request, _("没有找到该推送记录。"))
        else:
            webhook_services.delivery_send_again(delivery=delivery, **who)
            messages.success(request, _("已重新排队发送。"))
    return redirect(side.url())


def urls_for(side: Side) -> list[Any]:
    """The page and its four posts, named after the side (`integrations`, `bank_integrations`, …)."""
    from django.urls import path

    kw = {"side": side}
    return [
        path("", integrations, kw, name=side.url()),
        path("clients/new/", client_create, kw, name=side.url("client_create")),
        path("clients/action/", client_action, kw, name=side.url("client_action")),
        path("endpoints/new/", endpoint_create, kw, name=side.url("endpoint_create")),
        path("endpoints/action/", endpoint_action, kw, name=side.url("endpoint_action")),
    ]
