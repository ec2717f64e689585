"""The company administrator's page for API clients and webhook endpoints (/portal/integrations/).

Object ids travel in the POST body, not the URL, and are looked up within the caller's
company: another company's id finds nothing (the page says so and changes nothing). Secrets are shown once, on the response
to the POST that made them, and never again.
"""

from __future__ import annotations

import uuid
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from onboarding.services import CaseError
from portal.services import is_enterprise_admin
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

from . import services
from .models import ApiClient, Scope


class ClientForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("名称"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("权限范围"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=["read"]
    )


class EndpointForm(forms.Form):
    url = forms.URLField(label=gettext_lazy("地址"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=gettext_lazy("订阅事件"),
        choices=[c for c in WebhookEvent.choices if c[0] != WebhookEvent.TEST],
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(label=gettext_lazy("说明"), max_length=200, required=False)


def _company(request: HttpRequest) -> int:
    enterprise_id = getattr(request.user, "enterprise_id", None)
    assert enterprise_id is not None  # admin_required: an enterprise user
    return int(enterprise_id)


def _uuids(value: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(value)]
    except ValueError:
        return []


def admin_required(view: Any) -> Any:
    """The company's portal administrators only; everyone else gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_enterprise_admin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _page(request: HttpRequest, *, shown_secret: str = "", shown_for: str = "", **forms_: Any) -> HttpResponse:
    enterprise_id = _company(request)
    endpoints = WebhookEndpoint.objects.filter(enterprise_id=enterprise_id).order_by("-created_at")
    response = render(
        request,
        "portal/integrations.html",
        {
            "clients": ApiClient.objects.filter(enterprise_id=enterprise_id)
            .select_related("application")
            .order_by("-created_at"),
            "endpoints": endpoints,
            "deliveries": WebhookDelivery.objects.filter(endpoint__enterprise_id=enterprise_id)
            .select_related("endpoint")
            .order_by("-created_at")[:30],
            "client_form": forms_.get("client_form") or ClientForm(),
            "endpoint_form": forms_.get("endpoint_form") or EndpointForm(),
            "shown_secret": shown_secret,
            "shown_for": shown_for,
        },
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _client(request: HttpRequest) -> ApiClient | None:
    try:
        return ApiClient.objects.select_related("application").get(
            enterprise_id=_company(request),
            public_id=request.POST.get("client", ""),
        )
    except (ApiClient.DoesNotExist, ValueError, ValidationError):
        messages.error(request, _("没有找到该客户端。"))
        return None


def _endpoint(request: HttpRequest) -> WebhookEndpoint | None:
    try:
        return WebhookEndpoint.objects.get(
            enterprise_id=_company(request),
            public_id=request.POST.get("endpoint", ""),
        )
    except (WebhookEndpoint.DoesNotExist, ValueError, ValidationError):
        messages.error(request, _("没有找到该推送地址。"))
        return None


@admin_required
def integrations(request: HttpRequest) -> HttpResponse:
    return _page(request)


@admin_required
@require_POST
def client_create(request: HttpRequest) -> HttpResponse:
    form = ClientForm(request.POST)
    if not form.is_valid():
        return _page(request, client_form=form)
    try:
        creds = services.api_client_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            enterprise=request.user.enterprise,  # type: ignore[union-attr]
            created_by=request.user,
        )
    except CaseError as exc:
        messages.error(request, exc.message)
        return redirect("integrations")
    return _page(request, shown_secret=creds.client_secret, shown_for=creds.client_id)


@admin_required
@require_POST
def client_action(request: HttpRequest) -> HttpResponse:
    client = _client(request)
    if client is None:
        return redirect("integrations")
    try:
        if request.POST.get("action") == "rotate":
            creds = services.api_client_rotate(client=client)
            return _page(request, shown_secret=creds.client_secret, shown_for=creds.client_id)
        if request.POST.get("action") == "revoke":
            services.api_client_revoke(client=client)
            messages.success(request, _("客户端已停用。"))
    except CaseError as exc:
        messages.error(request, exc.message)
    return redirect("integrations")


@admin_required
@require_POST
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _page(request, endpoint_form=form)
    try:
        endpoint = webhook_services.endpoint_add(
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            enterprise=request.user.enterprise,  # type: ignore[union-attr]
            created_by=request.user,
        )
    except CaseError as exc:
        form.add_error("url", exc.message)
        return _page(request, endpoint_form=form)
    return _page(request, shown_secret=endpoint.secret, shown_for=endpoint.url)


@admin_required
@require_POST
def endpoint_action(request: HttpRequest) -> HttpResponse:
    endpoint = _endpoint(request)
    if endpoint is None:
        return redirect("integrations")
    action = request.POST.get("action")
    if action == "rotate":
        secret = webhook_services.endpoint_rotate_secret(endpoint=endpoint)
        return _page(request, shown_secret=secret, shown_for=endpoint.url)
    if action == "test":
        webhook_services.delivery_test(endpoint=endpoint)
        messages.success(request, _("测试事件已排队发送。"))
    elif action == "enable":
        webhook_services.endpoint_enable(endpoint=endpoint)
        messages.success(request, _("推送地址已重新启用。"))
    elif action == "send_again":
        delivery = endpoint.deliveries.filter(public_id__in=_uuids(request.POST.get("delivery", ""))).first()
        if delivery is None:
            messages.error(request, _("没有找到该推送记录。"))
        else:
            webhook_services.delivery_send_again(delivery=delivery)
            messages.success(request, _("已重新排队发送。"))
    return redirect("integrations")
