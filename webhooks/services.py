"""Webhooks: endpoints (checked against SSRF), deliveries through an outbox, Standard Webhooks signatures.

A delivery row is inserted in the transaction of the case event it announces (a listener on
`onboarding.events`), unique per (endpoint, event): whatever retries or flushes happen, each
endpoint gets one message per event, under one `webhook-id`, until it answers 2xx. Sending is
the delivery kernel's (`WebhookChannel` below): the first attempt is queued on commit; later
attempts wait for `next_attempt_at` and are picked up by the channel's flush (beat entry
`delivery-webhook`), so no long countdowns sit in the broker.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from standardwebhooks.webhooks import Webhook

from audit.models import AccessEvent
from audit.services import access_record
from branches.models import Branch
from branches.scope import ancestor_ids, branch_within
from casetypes import declaration
from casetypes.declaration import StateSet
from companies.models import Enterprise
from delivery.channels import Channel, DeliveryFailed, deliver, flush, register
from documents.checklist import documents_owed
from notices import kinds
from notices.models import OutboxEmail
from notices.outbox import email_queue, is_suppressed, renderers
from notices.services import notices_create
from onboarding.events import EventName
from onboarding.models import CaseEvent
from onboarding.services import CaseError

from .models import BANK_ADMIN_PERMISSION, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)

# Seconds to wait after attempt n fails (n = 1, 2, …): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h,
# the schedule the Standard Webhooks guidance suggests; about 27 hours in all, 8 attempts.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
SECRET_OVERLAP = dt.timedelta(hours=24)
TIMEOUT = (5, 10)
REMINDER_EVENTS = {EventName.REMIND, EventName.ESCALATE, EventName.ESCALATE_HEAD_OFFICE}
# The stages that ask the customer for documents (a required item in their declaration).
DOCUMENT_STAGES = StateSet(
    lambda: tuple(s.code for s in declaration.all_stages() if any(d.required for d in s.documents))
)


# --- audit -------------------------------------------------------------------------------------


def integration_change_record(
    *,
    action: str,
    obj: Any,
    actor: Any = None,
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
    detail: str = "",
) -> None:
    """An admin-change audit event for an API client or webhook endpoint (never a secret).

    Pages pass the person and the request; a management command passes neither and is named as such.
    """
    owner = obj.enterprise or obj.branch
    access_record(
        kind=AccessEvent.Kind.ADMIN_CHANGE,
        actor=actor,
        username="" if actor is not None else "manage.py",
        request=request,
        reason=f"{action} {obj._meta.verbose_name} “{obj}” ({owner}){detail}"[:4000],
        data={
            "action": action,
            "model": obj._meta.label,
            "object_id": str(obj.public_id),
            "object": str(obj)[:300],
            "owner": str(owner),
            **(data or {}),
        },
    )


# --- endpoints ---------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _loopback_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_LOOPBACK", False))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def internal_networks() -> tuple[Network, ...]:
    """The bank's internal networks its administrators' endpoints may reach (WEBHOOK_INTERNAL_NETWORKS)."""
    return tuple(ipaddress.ip_network(n) for n in getattr(settings, "WEBHOOK_INTERNAL_NETWORKS", ()))


def endpoint_networks(*, bank_owned: bool) -> tuple[Network, ...] | None:
    """The internal networks an endpoint may reach: the allowlist for a branch's (the bank's own)
    endpoint, None (no internal network at all) for a company's."""
    return internal_networks() if bank_owned else None


def _never_internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # This host, its neighbours' link and the cloud metadata address stay out whatever is listed.
    return ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified


@dataclass(frozen=True)
class Target:
    """A webhook URL as checked: the addresses it resolved to, or why it may not be used.

    Every address is public, or (a bank endpoint only) inside a network of the allowlist:
    `internal` pairs each such address with the network that let it through.
    """

    refusal: str | None
    scheme: str = ""
    host: str = ""
    port: int = 0
    path: str = "/"
    addresses: tuple[str, ...] = ()
    internal: tuple[tuple[str, str], ...] = ()


def url_check(url: str, *, networks: Sequence[Network] | None = None) -> Target:
    """Resolve the host once; every address must be public, or inside one of `networks` (the bank's
    internal networks, passed for the bank's own endpoints only). The delivery connects to these
    addresses and no others."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return Target(_("地址格式不正确。"))
    host = parts.hostname or ""
    loopback = _loopback_allowed() and host == "127.0.0.1"
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        return Target(_("地址须以 https:// 开头。"))
    if not host or parts.username or parts.password:
        return Target(_("地址格式不正确。"))
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return Target(_("无法解析该地址的主机名。"))
    addresses: list[str] = []
    internal: list[tuple[str, str]] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not (loopback and str(ip) == "127.0.0.1") and (not ip.is_global or ip.is_multicast):
            if networks is None or _never_internal(ip):
                return Target(_("该地址指向内网、本机或链路本地地址,不能接收推送。"))
            listed = next((n for n in networks if ip in n), None)
            if listed is None:
                return Target(
                    _("该地址 %(ip)s 不在允许的行内网段(WEBHOOK_INTERNAL_NETWORKS)中,不能接收推送。") % {"ip": ip}
                )
            if (str(ip), str(listed)) not in internal:
                internal.append((str(ip), str(listed)))
        if str(ip) not in addresses:
            addresses.append(str(ip))
    if not addresses:
        return Target(_("无法解析该地址的主机名。"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(None, parts.scheme, host, port, path, tuple(addresses), tuple(internal))


def url_refusal(url: str, *, networks: Sequence[Network] | None = None) -> str | None:
    """Why this URL may not receive webhooks, or None."""
    return url_check(url, networks=networks).refusal


def endpoint_add(
    *,
    url: str,
    events: Sequence[str],
    enterprise: Enterprise | None = None,
    branch: Branch | None = None,
    description: str = "",
    created_by: Any = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    if (enterprise is None) == (branch is None):
        raise CaseError(_("推送地址须属于一个企业或一个机构。"))
    chosen = sorted(set(events))
    if not chosen or any(e not in WebhookEvent.values or e == WebhookEvent.TEST for e in chosen):
        raise CaseError(_("请选择要订阅的事件。"))
    target = url_check(url, networks=endpoint_networks(bank_owned=branch is not None))
    if target.refusal:
        raise CaseError(target.refusal)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            events=chosen,
            enterprise=enterprise,
            branch=branch,
            description=description,
            secret=new_secret(),
            created_by=created_by,
        )
        data: dict[str, Any] = {"events": chosen}
        detail = ""
        if target.internal:
            # An endpoint inside the bank's network is a hole in the SSRF rule: who opened it,
            # to which address and under which listed network, is on the record.
            data["internal"] = [{"address": ip, "network": net} for ip, net in target.internal]
            detail = "".join(f" internal {ip} in {net}" for ip, net in target.internal)
        integration_change_record(
            action="endpoint_add", obj=endpoint, actor=created_by, request=request, data=data, detail=detail
        )
    return endpoint


def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, now: dt.datetime | None = None, actor: Any = None, request: HttpRequest | None = None
) -> str:
    """A new secret; messages are signed with both for SECRET_OVERLAP so the receiver can switch."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = now + SECRET_OVERLAP
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
        integration_change_record(
            action="endpoint_rotate_secret",
            obj=endpoint,
            actor=actor,
            request=request,
            data={"previous_secret_until": endpoint.previous_secret_until.isoformat()},
        )
    return endpoint.secret


def endpoint_enable(*, endpoint: WebhookEndpoint, actor: Any = None, request: HttpRequest | None = None) -> None:
    endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = True, None, ""
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    integration_change_record(action="endpoint_enable", obj=endpoint, actor=actor, request=request)
    due = list(
        endpoint.deliveries.filter(delivered_at__isnull=True, given_up_at__isnull=True).values_list("pk", flat=True)
    )
    deliver(WebhookChannel, due)


def is_bank_integration_admin(user: Any) -> bool:
    """A bank administrator: a staff user (home branch) holding the permission, directly or by group."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.branch_id is not None
        and user.has_perm(BANK_ADMIN_PERMISSION)
    )


def bank_admins_over(branch: Branch) -> list[Any]:
    """The bank administrators whose subtree holds `branch` (their home branch is it or above it)."""
    app_label, codename = BANK_ADMIN_PERMISSION.split(".")
    perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    return list(
        get_user_model()
        .objects.filter(Q(user_permissions__in=perm) | Q(groups__permissions__in=perm) | Q(is_superuser=True))
        .filter(is_active=True, branch_id__in=ancestor_ids(branch))
        .distinct()
        .order_by("pk")
    )


@kinds.renderers.add(key="webhook")
def render_webhook_notice(p: dict[str, Any]) -> str:
    return _("Webhook 推送地址 %(url)s 多次推送失败,已停用:%(reason)s") % {"url": p["url"], "reason": p["reason"]}


def _endpoint_disable(endpoint: WebhookEndpoint, reason: str, now: dt.datetime) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_at=now, disabled_reason=reason[:300]
    )
    params = {"url": endpoint.url, "reason": reason}
    text = kinds.render_in(settings.LANGUAGE_CODE, "webhook", params)
    people: list[Any] = []
    addresses: list[str] = []
    if endpoint.enterprise_id is not None:
        from portal.models import EnterpriseMember

        people = [
            m.user
            for m in EnterpriseMember.objects.filter(
                user__enterprise_id=endpoint.enterprise_id, is_admin=True, removed_at__isnull=True
            ).select_related("user")
        ]
        addresses.append(endpoint.enterprise.contact_email if endpoint.enterprise else "")
    elif endpoint.branch is not None:
        people = bank_admins_over(endpoint.branch)
    if endpoint.created_by is not None and endpoint.created_by not in people:
        people.append(endpoint.created_by)
    notices_create(recipients=people, case_id=None, kind="webhook", text=text, params=params)
    addresses += [p.email for p in people]
    email_queue(
        kind="webhook_disabled",
        key=f"webhook-disabled:{endpoint.pk}:{now.isoformat()}",
        to=addresses,
        payload={"text": text},
    )


# --- queueing ----------------------------------------------------------------------------------


def candidate_types(event: CaseEvent) -> set[str]:
    """The webhook types a case event may announce, from its name alone (no query)."""
    types: set[str] = set()
    if event.name == EventName.CASE_CREATED:
        types.add(WebhookEvent.CASE_CREATED)
    if event.kind == CaseEvent.Kind.TRANSITION and event.to_state:
        types.add(WebhookEvent.STAGE_ENTERED)
        # Entering a stage with a checklist asks the customer for its documents (a case resumed
        # was asked when it first entered; a return asks again for what is still owed).
        if event.name != EventName.RESUME and event.to_state in DOCUMENT_STAGES:
            types.add(WebhookEvent.DOCUMENT_REQUESTED)
    if event.kind == CaseEvent.Kind.TRANSITION and event.to_state in declaration.live_states():
        types.add(WebhookEvent.CASE_LIVE)
    if event.name == EventName.DOCUMENT_REJECT:
        types.add(WebhookEvent.DOCUMENT_REJECTED)
    if event.name in REMINDER_EVENTS:
        types.add(WebhookEvent.REMINDER)
    return {str(t) for t in types}


def type_data(kind: str, event: CaseEvent) -> dict[str, Any] | None:
    """What a message of `kind` adds to the common data; None when the event turns out not to be one."""
    if kind == WebhookEvent.DOCUMENT_REQUESTED:
        owed = documents_owed(event.case, event.to_state)
        if not owed:
            return None
        return {"documents": [{"kind": i.kind, "label": i.label, "status": i.status} for i in owed]}
    if kind == WebhookEvent.DOCUMENT_REJECTED:
        return {
            "document": {
                "kind": event.data.get("document", ""),
                "label": event.data.get("label", ""),
                "version": event.data.get("version"),
                "reason": event.reason,
            }
        }
    if kind == WebhookEvent.REMINDER:
        return {"reminder": {k: event.data[k] for k in ("level", "stage", "due_at") if k in event.data}}
    return {}


def _payload(
    kind: str, event: CaseEvent | None, now: dt.datetime, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if event is not None:
        case = event.case
        data = {
            "case_id": str(case.public_id),
            "reference": case.reference,
            "state": case.state,
            "event": event.name,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "at": event.created_at.isoformat(),
            **(extra or {}),
        }
    return {"type": kind, "timestamp": now.isoformat(), "data": data}


def _endpoints_matching(endpoints: list[WebhookEndpoint], case: Any) -> list[WebhookEndpoint]:
    found = []
    for endpoint in endpoints:
        if endpoint.enterprise_id is not None:
            if endpoint.enterprise_id == case.enterprise_id:
                found.append(endpoint)
        elif endpoint.branch is not None and branch_within(case.branch, endpoint.branch):
            found.append(endpoint)
    return found


def deliveries_queue(event: CaseEvent) -> None:
    """The listener on every case event: one delivery row per subscribed endpoint and type, in the event's transaction."""
    if candidate_types(event):  # most events announce nothing: no query for them
        deliveries_queue_many([event])


def deliveries_queue_many(events: Iterable[CaseEvent]) -> None:
    """Deliveries for many events at once (the reminder sweep writes its events in bulk).

    Nothing is read while no endpoint is active; then the events, and the endpoints of their
    companies and every branch endpoint (few), once. Each (endpoint, event, type) row is unique,
    so an event announced twice still sends one message of each type.
    """
    if is_suppressed():
        return
    active = WebhookEndpoint.objects.filter(is_active=True)
    if not active.exists():
        return
    wanted = [(event, kinds) for event in events if (kinds := candidate_types(event))]
    if not wanted:
        return
    companies = {event.case.enterprise_id for event, _kinds in wanted}
    endpoints = list(active.filter(Q(enterprise_id__in=companies) | Q(branch__isnull=False)).select_related("branch"))
    now = timezone.now()
    rows = []
    for event, kinds in wanted:
        extras: dict[str, dict[str, Any] | None] = {}  # once per event and type, whatever the endpoints
        for endpoint in _endpoints_matching(endpoints, event.case):
            for kind in sorted(kinds & set(endpoint.events)):
                if kind not in extras:
                    extras[kind] = type_data(kind, event)
                extra = extras[kind]
                if extra is None:
                    continue
                rows.append(
                    WebhookDelivery(
                        endpoint=endpoint,
                        event=event,
                        event_type=kind,
                        msg_id=f"msg_{uuid.uuid4().hex}",
                        payload=_payload(kind, event, now, extra),
                    )
                )
    if not rows:
        return
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    ids = list(WebhookDelivery.objects.filter(msg_id__in=[r.msg_id for r in rows]).values_list("pk", flat=True))
    deliver(WebhookChannel, ids)


def delivery_test(
    *, endpoint: WebhookEndpoint, actor: Any = None, request: HttpRequest | None = None
) -> WebhookDelivery:
    if not endpoint.is_active:
        raise CaseError(_("该推送地址已停用,请先重新启用。"))
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type=WebhookEvent.TEST,
            msg_id=f"msg_{uuid.uuid4().hex}",
            payload=_payload(WebhookEvent.TEST, None, now),
        )
        integration_change_record(
            action="delivery_test", obj=endpoint, actor=actor, request=request, data={"msg_id": delivery.msg_id}
        )
    deliver(WebhookChannel, [delivery.pk])
    return delivery


def delivery_send_again(*, delivery: WebhookDelivery, actor: Any = None, request: HttpRequest | None = None) -> None:
    """Send once more under the same webhook-id (the receiver deduplicates on it)."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            delivered_at=None, given_up_at=None, attempts=0, next_attempt_at=timezone.now()
        )
        integration_change_record(
            action="delivery_send_again",
            obj=delivery.endpoint,
            actor=actor,
            request=request,
            data={"msg_id": delivery.msg_id},
        )
    deliver(WebhookChannel, [delivery.pk])


def deliveries_flush(*, now: dt.datetime | None = None) -> int:
    """Queue the deliveries that are due (a retry's time has come, or the broker was down at commit)."""
    return flush(WebhookChannel, now=now)


# --- sending -----------------------------------------------------------------------------------


def signature(endpoint: WebhookEndpoint, msg_id: str, at: dt.datetime, body: str) -> str:
    secrets_ = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > at:
        secrets_.append(endpoint.previous_secret)
    return " ".join(Webhook(s).sign(msg_id=msg_id, timestamp=at, data=body) for s in secrets_)


def pinned_post(target: Target, *, body: bytes, headers: dict[str, str], ca_certs: str | None = None) -> int:
    """POST to an address that was checked, never to a second DNS answer (no rebinding).

    The connection goes to the checked addresses in turn (the next one only when one cannot be
    connected to); the Host header, the TLS SNI and the certificate's name check all use the
    URL's host name. Redirects are returned, not followed.
    """
    failure: Exception | None = None
    for ip in target.addresses:
        try:
            return _post_to(ip, target, body=body, headers=headers, ca_certs=ca_certs)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            failure = exc
    assert failure is not None  # url_check never passes a target without addresses
    raise failure


def _post_to(ip: str, target: Target, *, body: bytes, headers: dict[str, str], ca_certs: str | None) -> int:
    default_port = 443 if target.scheme == "https" else 80
    name = f"[{target.host}]" if ":" in target.host else target.host
    host_header = name if target.port == default_port else f"{name}:{target.port}"
    timeout = urllib3.Timeout(connect=TIMEOUT[0], read=TIMEOUT[1])
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            ip,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs or certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(ip, target.port, timeout=timeout, retries=False)
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "host": host_header},
            redirect=False,
            assert_same_host=False,
            retries=False,
            preload_content=False,
        )
        response.close()
        return int(response.status)


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: dt.datetime) -> tuple[int | None, str]:
    # Checked again at every send, with the allowlist as it is now: the connection goes to the
    # addresses this check accepted, never to a second DNS answer.
    target = url_check(endpoint.url, networks=endpoint_networks(bank_owned=endpoint.branch_id is not None))
    if target.refusal:
        return None, target.refusal
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"))
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature(endpoint, delivery.msg_id, now, body),
        "user-agent": "onboarding-webhooks/1",
    }
    try:
        status = pinned_post(target, body=body.encode(), headers=headers)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return None, type(exc).__name__
    return status, "" if 200 <= status < 300 else f"HTTP {status}"


@register
class WebhookChannel(Channel):
    """One message to one endpoint: sent under its `webhook-id` until the endpoint answers 2xx.

    A worker killed after the receiver answered 2xx and before the commit sends again under the
    same webhook-id, which the receiver deduplicates; otherwise each message arrives once.
    After the last attempt the endpoint is disabled and its owners are told.
    """

    key = "webhook"
    label = gettext_lazy("Webhook 推送")
    model = WebhookDelivery
    retry_schedule = RETRY_SCHEDULE
    flush_seconds_setting = "WEBHOOK_FLUSH_SECONDS"
    flush_limit = 1000
    sent_field = "delivered_at"
    also_save = ("last_status",)

    def due(self, now: dt.datetime) -> Any:
        return (
            super()
            .due(now)
            .filter(endpoint__is_active=True)
            .select_related("endpoint__enterprise", "endpoint__branch", "endpoint__created_by")
        )

    def send(self, row: WebhookDelivery, now: dt.datetime) -> None:
        started = time.monotonic()
        status, error = _post(row.endpoint, row, now)
        WebhookAttempt.objects.create(
            delivery=row, at=now, status=status, error=error[:300], duration_ms=int((time.monotonic() - started) * 1000)
        )
        row.last_status = status
        if error:
            raise DeliveryFailed(error)

    def on_give_up(self, row: WebhookDelivery, error: str, now: dt.datetime) -> None:
        _endpoint_disable(row.endpoint, error, now)

    def describe(self, row: WebhookDelivery) -> str:
        return f"{row.event_type} → {row.endpoint.url} ({row.msg_id})"


def delivery_send(*, pk: int, now: dt.datetime | None = None) -> bool:
    """One attempt if the delivery is due; True when it is (now) delivered."""
    return WebhookChannel().send_ids([pk], now) == 1


@renderers.add(key="webhook_disabled")
def render_disabled_mail(row: OutboxEmail) -> tuple[str, str]:
    return _("Webhook 推送地址已停用"), str(row.payload["text"])
