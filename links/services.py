"""Writes for live links and their requests. Every change of a link goes through a function here.

Entry points (stable; other request types build on them):

- `link_create_from_case(case=…, actor=…)`: the live link of an onboarding case that went live
  (idempotent: a second call returns the link).
- `link_event(link=…, name=…, actor=…, channel=…, data=…, reason=…, request=…)`: append one
  history row and touch the link's last activity.
- `launch_refusal(link=…, kind=…)` → the reason in words, or None; `request_open(link=…,
  kind=…, user=…, channel=…, ukey=…, details=…, reason=…)` → a `LinkRequest` with its case,
  or `LaunchRefused` (a `CaseError`).
- `request_transition(request=…, user=…, name=…, reason=…)`: a transition of the request's case.
- `link_accounts_replace(...)`, `link_operator_rotate(...)`, `link_status_set(...)`: the
  versioned child rows and the status.
- UKey loss: `ukey_loss_report`, `ukey_replacement_make`, `ukey_replacement_cancel`,
  `ukey_replacement_confirm`, `ukey_loss_release`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from branches.roles import Role, has_role
from branches.scope import case_in_scope
from casetypes import declaration
from counter import services as counter
from counter.models import CounterEntry, UKey
from notices import kinds
from onboarding import notifications
from onboarding import services as case_services
from onboarding.models import OnboardingCase, ProductionConfig
from onboarding.services import CaseError
from onboarding.terms import Module

from .models import Channel, LinkAccount, LinkEvent, LinkOperator, LinkRequest, LinkStatus, LiveLink
from .requests import TAKEN_WHEN_SUSPENDED, suspension, ukey_loss

if TYPE_CHECKING:
    from accounts.models import User

PAYMENT_MODULES = frozenset({Module.PAYMENT_SINGLE, Module.PAYMENT_BATCH, Module.PAYROLL})


class LaunchRefused(CaseError):
    """A request may not start now (launch controls); the message says why."""


# --- the link ---------------------------------------------------------------------------------------


def link_event(
    *,
    link: LiveLink,
    name: str,
    actor: User | None,
    channel: str = Channel.SYSTEM,
    data: dict[str, Any] | None = None,
    reason: str = "",
    request: LinkRequest | None = None,
    now: dt.datetime | None = None,
) -> LinkEvent:
    now = now or timezone.now()
    event = LinkEvent.objects.create(
        link=link,
        request=request,
        name=name,
        actor=actor,
        channel=channel,
        data=data or {},
        reason=reason,
        created_at=now,
    )
    LiveLink.objects.filter(pk=link.pk).update(last_activity_at=now, updated_at=now, version=F("version") + 1)
    return event


def _accounts_of(case: OnboardingCase) -> list[dict[str, Any]]:
    """The approved version's accounts; those the production configuration names, if it names any."""
    version = case.company
    rows = list(getattr(version, "accounts", None) or [])
    config = ProductionConfig.objects.filter(case=case).first()
    named = set(config.account_list) if config is not None else set()
    if named:
        rows = [r for r in rows if r.get("account_number") in named] or rows
    can_pay = bool(PAYMENT_MODULES & set(case.modules))
    return [
        {
            "account_number": r.get("account_number", ""),
            "account_name": r.get("account_name", ""),
            "opening_branch": r.get("opening_branch", ""),
            "can_query": True,
            "can_pay": can_pay,
        }
        for r in rows
    ]


def _operator_rows(case: OnboardingCase) -> list[dict[str, Any]]:
    """Each current operator of the case with the UKey in use (the newest, if several)."""
    rows = []
    for op in case.operators.filter(removed_at__isnull=True).order_by("created_at", "pk"):  # type: ignore[attr-defined]
        keys = [k for k in op.ukeys.order_by("-issued_at", "-pk") if k.in_use]
        key = keys[0] if keys else None
        rows.append({"operator": op, "ukey": key})
    return rows


def link_create_from_case(*, case: OnboardingCase, actor: User | None) -> LiveLink:
    """Create the live link of an onboarding case that just went live, from its approved data."""
    existing = LiveLink.objects.filter(onboarding_case=case).first()
    if existing is not None:
        return existing
    now = timezone.now()
    config = ProductionConfig.objects.filter(case=case).first()
    assert case.company_version_id is not None, "a live case has its approved data version"
    with transaction.atomic():
        link = LiveLink.objects.create(
            reference=f"TMP-{case.pk}",
            onboarding_case=case,
            enterprise=case.enterprise,
            branch=case.branch,
            company_version_id=case.company_version_id,
            modules=list(case.modules),
            production_endpoint=config.production_endpoint if config else "",
            certificate_serial=config.certificate_serial if config else "",
            went_live_at=now,
            last_activity_at=now,
            created_at=now,
            updated_at=now,
        )
        link.reference = f"ZLFW-{timezone.localdate(now).year}-{link.pk:06d}"
        operators = _operator_rows(case)
        expiries = [r["ukey"].expires_on for r in operators if r["ukey"] is not None]
        # The front-end certificate's expiry: read from the UKey register (the earliest key).
        link.certificate_expires_on = min(expiries) if expiries else None
        link.save(update_fields=["reference", "certificate_expires_on"])
        accounts = _accounts_of(case)
        created = link_event(
            link=link,
            name=LinkEvent.Name.CREATED,
            actor=actor,
            channel=channel_for(actor),  # 行内 when staff made it go live
            data={
                "case": case.reference,
                "company_version": case.company.number,
                "modules": list(case.modules),
                "accounts": [a["account_number"] for a in accounts],
                "operators": [r["operator"].name for r in operators],
            },
            now=now,
        )
        LinkAccount.objects.bulk_create(
            [LinkAccount(link=link, started_event=created, started_at=now, **a) for a in accounts]
        )
        LinkOperator.objects.bulk_create(
            [
                LinkOperator(
                    link=link,
                    operator=r["operator"],
                    name=r["operator"].name,
                    role=r["operator"].role,
                    ukey=r["ukey"],
                    ukey_serial=r["ukey"].serial if r["ukey"] else "",
                    ukey_expires_on=r["ukey"].expires_on if r["ukey"] else None,
                    started_event=created,
                    started_at=now,
                )
                for r in operators
            ]
        )
    link.refresh_from_db()
    return link


def link_accounts_replace(
    *, link: LiveLink, accounts: list[dict[str, Any]], event: LinkEvent, now: dt.datetime | None = None
) -> None:
    """The link's accounts become `accounts` (dicts of LinkAccount's fields): rows that differ end, new rows start."""
    now = now or timezone.now()
    current = {a.account_number: a for a in link.current_accounts()}
    wanted = {a["account_number"]: a for a in accounts}
    keys = ("account_name", "opening_branch", "can_query", "can_pay")
    for number, row in current.items():
        new = wanted.get(number)
        if new is not None and all(getattr(row, k) == new.get(k, getattr(row, k)) for k in keys):
            wanted.pop(number)  # unchanged: the current row stays
            continue
        LinkAccount.objects.filter(pk=row.pk, ended_at__isnull=True).update(ended_at=now, ended_event=event)
    LinkAccount.objects.bulk_create(
        [LinkAccount(link=link, started_event=event, started_at=now, **a) for a in wanted.values()]
    )


def link_operator_rotate(
    *,
    link: LiveLink,
    operator: Any,
    event: LinkEvent,
    ukey: UKey | None,
    role: str | None = None,
    ended: bool = False,
    now: dt.datetime | None = None,
) -> LinkOperator | None:
    """End the operator's current row; unless `ended`, start a new one (new UKey and/or role)."""
    now = now or timezone.now()
    old = link.current_operators().filter(operator=operator).first()
    if old is not None:
        LinkOperator.objects.filter(pk=old.pk, ended_at__isnull=True).update(ended_at=now, ended_event=event)
    if ended:
        return None
    return LinkOperator.objects.create(
        link=link,
        operator=operator,
        name=operator.name,
        role=role or (old.role if old is not None else operator.role),
        ukey=ukey,
        ukey_serial=ukey.serial if ukey else "",
        ukey_expires_on=ukey.expires_on if ukey else None,
        started_event=event,
        started_at=now,
    )


def channel_for(user: User | None) -> str:
    """The channel a person acts through: the portal for the company's users, the bank's own
    pages (行内) for staff, 系统 when nobody does (a sweep)."""
    if user is None:
        return Channel.SYSTEM
    return Channel.PORTAL if user.enterprise_id is not None else Channel.BANK


def link_status_set(
    *,
    link: LiveLink,
    status: str,
    actor: User | None,
    reason: str = "",
    request: LinkRequest | None = None,
    channel: str | None = None,
) -> LiveLink:
    """Change the link's status (正常/已暂停/注销中/已注销), recorded as an event in the channel
    given (default: the actor's, `channel_for`)."""
    with transaction.atomic():
        locked = LiveLink.objects.select_for_update().get(pk=link.pk)
        if locked.status == status:
            return locked
        old = locked.status
        locked.status = status
        fields = ["status"]
        if status == LinkStatus.CLOSED:
            locked.closed_on = timezone.localdate()
            fields.append("closed_on")
        locked.save(update_fields=fields)
        link_event(
            link=locked,
            name=LinkEvent.Name.STATUS_CHANGED,
            actor=actor,
            channel=channel or channel_for(actor),
            data={"from": old, "to": status},
            reason=reason,
            request=request,
        )
    locked.refresh_from_db()
    return locked


# --- requests and their launch controls ----------------------------------------------------------------


def launch_refusal(*, link: LiveLink, kind: str, open_kinds: set[str] | None = None) -> str | None:
    """Why a request of `kind` may not start on `link` now (None: it may). `open_kinds`: the kinds
    of the link's open requests when the caller has read them already (the link page lists them)."""
    if link.status == LinkStatus.CLOSED:
        return _("该直联服务已注销,不能再提交申请")
    if open_kinds is None:
        open_kinds = set(LinkRequest.objects.filter(link=link, is_open=True).values_list("kind", flat=True))
    if LinkRequest.TERMINATION in open_kinds:
        return _("该直联服务正在办理注销,注销办结前不能提交新的申请")
    if kind in open_kinds:
        declared = declaration.CASE_TYPES.get(kind)
        label = str(declared.label) if declared is not None else kind
        return _("该直联服务已有一笔办理中的“%(kind)s”申请,请待其办结后再提交") % {"kind": label}
    return suspended_refusal(link=link, kind=kind)


def suspended_refusal(*, link: LiveLink, kind: str) -> str | None:
    """Why a suspended link does not take a request of `kind` (None: it does, or it is not
    suspended). What it takes is declared in `links.requests.TAKEN_WHEN_SUSPENDED`."""
    if link.status != LinkStatus.SUSPENDED or kind in TAKEN_WHEN_SUSPENDED:
        return None
    if kind == suspension.SUSPENSION:
        return _("该直联服务已暂停")
    return _("服务已暂停,请先申请恢复")


def _check_link_access(link: LiveLink, user: User) -> None:
    if not case_in_scope(link, user):
        raise CaseError(_("该直联服务不在您的管辖范围内"))


def request_open(
    *,
    link: LiveLink,
    kind: str,
    user: User,
    channel: str,
    ukey: UKey | None = None,
    details: dict[str, Any] | None = None,
    reason: str = "",
    tell_customers: bool = True,
    sweep: str = "",
    reason_args: dict[str, Any] | None = None,
) -> LinkRequest:
    """Open a request of `kind` (a declared case type's code) on `link`, if the launch controls allow it.

    `sweep`: the name of the system check opening it (a msgid, e.g. "证书到期检查"; channel 系统)
    in `user`'s name (the account manager's): the request is theirs, but its history says the
    system opened it. `reason_args`: `reason` is the system's sentence as a msgid with these
    arguments, kept so that the request, its notices and its history read in each reader's language.

    Call inside the caller's transaction when the request comes with a first effect (a UKey
    blocked): a refusal then leaves nothing behind."""
    _check_link_access(link, user)
    if kind not in declaration.CASE_TYPES:
        raise CaseError(_("未知的申请类型"))
    with transaction.atomic():
        locked = LiveLink.objects.select_for_update().get(pk=link.pk)  # launches on one link queue here
        refusal = launch_refusal(link=locked, kind=kind)
        if refusal:
            raise LaunchRefused(refusal)
        case = case_services.case_create(
            user=user, enterprise=locked.enterprise, modules=list(locked.modules), case_type=kind, sweep=sweep
        )
        try:
            with transaction.atomic():
                request = LinkRequest.objects.create(
                    link=locked,
                    case=case,
                    kind=kind,
                    channel=channel,
                    ukey=ukey,
                    details={
                        **(details or {}),
                        **({"sweep": sweep} if sweep else {}),
                        **({"reason_msg": reason, "reason_args": reason_args} if reason_args else {}),
                    },
                    opened_by=user,
                    opened_at=case.created_at,
                )
        except DatabaseError:
            # The database's launch controls (another writer got there first).
            raise LaunchRefused(launch_refusal(link=locked, kind=kind) or _("当前不能提交该申请")) from None
        # The request is the link's account manager's (whoever opened it): the first holder when
        # the account manager holds the first stage, and the one told when it ends.
        manager = locked.onboarding_case.account_manager
        if case.account_manager_id is None and manager is not None:
            OnboardingCase.objects.filter(pk=case.pk).update(account_manager=manager)
            case.account_manager = manager
        link_event(
            link=locked,
            name=LinkEvent.Name.REQUEST_OPENED,
            actor=None if sweep else user,
            channel=channel,
            data={
                "kind": kind,
                "case": case.reference,
                **({"ukey": ukey.serial} if ukey else {}),
                **({"sweep": sweep, "owner_name": str(user)} if sweep else {}),
                **({"reason_msg": reason, "reason_args": reason_args} if reason_args else {}),
            },
            reason=_in_chinese(reason, reason_args) if reason_args else reason,
            request=request,
        )
        # Whoever holds the first stage is told now, as a hand-off tells them; the company too
        # when the bank opened it (unless it hears another way: a renewal's own reminder).
        notifications.case_opened_notice(
            case,
            actor=user,
            reason=reason,
            customers=tell_customers,
            by_sweep=channel == Channel.SYSTEM,
            reason_args=reason_args,
        )
    return request


def _in_chinese(msgid: str, args: dict[str, Any]) -> str:
    """The system's sentence as the record keeps it in words (the reason column): in Chinese."""
    with translation.override("zh-hans"):
        return kinds.message(msgid, args)


def request_close_if_ended(case: OnboardingCase, *, actor: User | None, reason: str = "") -> None:
    """A request case reached an end state: its LinkRequest closes (once), recorded on the link."""
    if case.state in declaration.case_type_of(case).open_states:
        return
    request = LinkRequest.objects.filter(case_id=case.pk, is_open=True).first()
    if request is None:
        return
    now = timezone.now()
    if LinkRequest.objects.filter(pk=request.pk, is_open=True).update(is_open=False, closed_at=now):
        link_event(
            link=request.link,
            name=LinkEvent.Name.REQUEST_CLOSED,
            actor=actor,
            channel=channel_for(actor),
            data={"kind": request.kind, "case": case.reference, "state": case.state},
            reason=reason,
            request=request,
            now=now,
        )


def request_transition(*, request: LinkRequest, user: User, name: str, reason: str = "") -> OnboardingCase:
    """A transition of the request's case (through the case's one door)."""
    case = OnboardingCase.objects.get(pk=request.case_id)
    return case_services.case_transition(case=case, user=user, name=name, reason=reason)


# --- UKey loss (挂失) and replacement ---------------------------------------------------------------------


def _channel_of(user: User) -> str:
    return Channel.PORTAL if user.enterprise_id is not None else Channel.COUNTER


def ukey_loss_report(*, link: LiveLink, ukey: UKey, user: User, reason: str = "") -> LinkRequest:
    """挂失: the UKey is blocked now (counter register), and a loss/replacement request opens.

    The customer (a user of the link's company) or a counter maker. One transaction: a refused
    launch leaves the key as it was."""
    _check_link_access(link, user)
    if not (user.enterprise_id == link.enterprise_id or has_role(user, Role.COUNTER_MAKER)):
        raise CaseError(_("挂失仅限本企业用户或柜面经办办理"))
    if ukey.case_id != link.onboarding_case_id:
        raise CaseError(_("该UKey不属于本直联服务"))
    channel = _channel_of(user)
    with transaction.atomic():
        refusal = launch_refusal(link=link, kind=ukey_loss.CODE)
        if refusal:
            raise LaunchRefused(refusal)
        blocked = counter.ukey_loss_report(ukey=ukey, user=user, reason=reason, by_customer=True)
        request = request_open(link=link, kind=ukey_loss.CODE, user=user, channel=channel, ukey=blocked, reason=reason)
        link_event(
            link=link,
            name=LinkEvent.Name.UKEY_LOST,
            actor=user,
            channel=channel,
            data={"ukey": blocked.serial, "holder": blocked.holder, "blocked_at": timezone.now().isoformat()},
            reason=reason,
            request=request,
        )
    return request


def _request_for_update(request: LinkRequest, kind: str) -> LinkRequest:
    locked = LinkRequest.objects.select_related("link", "ukey", "ukey__operator").get(pk=request.pk)
    if locked.kind != kind:
        raise CaseError(_("申请类型不符"))
    if not locked.is_open:
        raise CaseError(_("该申请已办结"))
    return locked


def ukey_replacement_make(
    *, request: LinkRequest, user: User, serial: str, expires_on: dt.date | None = None, notes: str = ""
) -> CounterEntry:
    """The counter maker enters the new K宝 replacing the lost one; the checker holds the request next."""
    with transaction.atomic():
        request = _request_for_update(request, ukey_loss.CODE)
        case = OnboardingCase.objects.get(pk=request.case_id)
        if case.state != ukey_loss.REPORTED:
            raise CaseError(_("当前阶段不能录入补办"))
        lost = request.ukey
        assert lost is not None
        entry = counter.ukey_issuance_make(
            case=request.link.onboarding_case,
            user=user,
            operator=lost.operator,
            serial=serial,
            expires_on=expires_on,
            replaces=lost,
            notes=notes,
        )
        link_event(
            link=request.link,
            name=LinkEvent.Name.UKEY_REPLACEMENT_MADE,
            actor=user,
            channel=Channel.COUNTER,
            data={"ukey": lost.serial, "new_serial": entry.serial, "entry": entry.pk},
            request=request,
        )
        case_services.case_transition(case=case, user=user, name="ukey_replacement_entered")
    return entry


def _pending_replacement(request: LinkRequest) -> CounterEntry:
    entry = (
        CounterEntry.objects.filter(
            kind=CounterEntry.Kind.ISSUE_UKEY, replaces_id=request.ukey_id, status=CounterEntry.Status.PENDING
        )
        .order_by("-made_at")
        .first()
    )
    if entry is None:
        raise CaseError(_("没有待复核的补办录入"))
    return entry


def ukey_replacement_cancel(*, request: LinkRequest, user: User, reason: str) -> CounterEntry:
    """The maker withdraws the entry before it is checked; the request goes back to the maker."""
    with transaction.atomic():
        request = _request_for_update(request, ukey_loss.CODE)
        entry = counter.entry_cancel(entry=_pending_replacement(request), user=user, reason=reason)
        case = OnboardingCase.objects.get(pk=request.case_id)
        case_services.case_transition(case=case, user=user, name="ukey_replacement_returned", reason=reason or "-")
    return entry


def ukey_replacement_confirm(*, request: LinkRequest, user: User) -> UKey:
    """A counter checker who is not the maker confirms: the new key takes effect, the request is done."""
    with transaction.atomic():
        request = _request_for_update(request, ukey_loss.CODE)
        case = OnboardingCase.objects.get(pk=request.case_id)
        if case.state != ukey_loss.CHECKING:
            raise CaseError(_("当前阶段不能复核补办"))
        entry = counter.entry_confirm(entry=_pending_replacement(request), user=user)
        new = UKey.objects.get(issued_entry=entry)
        now = timezone.now()
        event = link_event(
            link=request.link,
            name=LinkEvent.Name.UKEY_REPLACED,
            actor=user,
            channel=Channel.COUNTER,
            data={"ukey": request.ukey.serial if request.ukey else "", "new_serial": new.serial, "entry": entry.pk},
            request=request,
            now=now,
        )
        link_operator_rotate(link=request.link, operator=new.operator, event=event, ukey=new, now=now)
        case_services.case_transition(case=case, user=user, name="ukey_replacement_confirmed")
    return new


def ukey_loss_release(*, request: LinkRequest, user: User, reason: str) -> UKey:
    """解挂: the key was found before a replacement; it works again and the request ends."""
    reason = reason.strip()
    if not reason:
        raise CaseError(_("解除挂失须填写原因"))
    with transaction.atomic():
        request = _request_for_update(request, ukey_loss.CODE)
        assert request.ukey is not None
        ukey = counter.ukey_loss_release(ukey=request.ukey, user=user, reason=reason)
        link_event(
            link=request.link,
            name=LinkEvent.Name.UKEY_RELEASED,
            actor=user,
            channel=Channel.COUNTER,
            data={"ukey": ukey.serial},
            reason=reason,
            request=request,
        )
        case = OnboardingCase.objects.get(pk=request.case_id)
        request.ukey = ukey
        case_services.case_transition(case=case, user=user, name="ukey_loss_released", reason=reason)
    return ukey
