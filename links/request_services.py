"""Writes for the certificate renewal, suspension/resumption and termination requests, the
legal hold and the purge (issue 22). Each request opens through `links.services.request_open`
(the launch controls) and moves through `onboarding.services.case_transition` (the engine).

- `renewal_sweep(today=…)`: open one renewal per certificate LINK_RENEWAL_LEAD_DAYS before its
  expiry and remind the customer at LINK_RENEWAL_REMINDER_DAYS (beat entry `links-renewal-sweep`);
  `certificate_submit(...)`: the new certificate, from the portal or the counter.
- `suspension_open`, `resumption_open`, `dormant_sweep(now=…)` (beat entry `links-dormant-sweep`).
- `termination_open`, `link_close` (the termination's last step), `legal_hold_set`,
  `legal_hold_release`, `links_purge` (`manage.py purge_closed_links`).

A sweep opens a request in the name of the link's account manager (the case's owner; the
channel 系统 on the link event says the sweep started it): a case needs a person who created it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from branches.roles import Role, has_role
from notices import outbox
from notices.services import notices_clear, notices_create
from onboarding.services import CaseError

from .models import Channel, LinkEvent, LinkRequest, LinkStatus, LiveLink
from .requests import cert_renewal, suspension, termination
from .requests.common import effects
from .requests.suspension import SuspensionReason
from .services import LaunchRefused, _check_link_access, launch_refusal, link_event, request_open

if TYPE_CHECKING:
    from accounts.models import User

log = logging.getLogger("links.requests")


def renewal_lead_days() -> int:
    return int(getattr(settings, "LINK_RENEWAL_LEAD_DAYS", 90))


def renewal_reminder_days() -> tuple[int, ...]:
    return tuple(sorted(getattr(settings, "LINK_RENEWAL_REMINDER_DAYS", (90, 30, 7, 0)), reverse=True))


def dormant_days() -> int:
    return int(getattr(settings, "LINK_DORMANT_DAYS", 365))


def retention_years() -> int:
    return int(getattr(settings, "LINK_RETENTION_YEARS", 5))


# The system checks that open requests in the account manager's name (msgids: the history says
# "系统(证书到期检查)" in the reader's language).
RENEWAL_SWEEP = gettext_noop("证书到期检查")
DORMANCY_SWEEP = gettext_noop("久悬检查")


def _owner(link: LiveLink) -> User | None:
    """Whom a sweep opens a request in the name of: the link's account manager."""
    return link.onboarding_case.account_manager


def _customers(link: LiveLink) -> list[User]:
    from accounts.models import User

    return list(User.objects.filter(enterprise_id=link.enterprise_id, is_active=True).order_by("pk"))


# --- certificate renewal -------------------------------------------------------------------------


@dataclass
class SweepResult:
    opened: list[int] = field(default_factory=list)
    reminded: int = 0
    skipped: list[str] = field(default_factory=list)


def renewal_open_for(*, link: LiveLink, today: dt.date | None = None) -> LinkRequest | None:
    """Open the renewal of the link's current certificate if it is due and none was ever opened for it.

    The link row is locked first: of two sweeps at once, the second waits, then finds the first's
    request (one per certificate: the request names the expiry it renews)."""
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = LiveLink.objects.select_for_update().select_related("onboarding_case").get(pk=link.pk)
        expires = locked.certificate_expires_on
        if expires is None or expires > today + dt.timedelta(days=renewal_lead_days()):
            return None
        if locked.status not in (LinkStatus.ACTIVE, LinkStatus.SUSPENDED):
            return None
        if LinkRequest.objects.filter(
            link=locked, kind=cert_renewal.CODE, details__expires_on=expires.isoformat()
        ).exists():
            return None
        if launch_refusal(link=locked, kind=cert_renewal.CODE):
            return None
        owner = _owner(locked)
        if owner is None:
            log.warning("links: renewal of %s not opened: the link has no account manager", locked.reference)
            return None
        request = request_open(
            link=locked,
            kind=cert_renewal.CODE,
            user=owner,
            channel=Channel.SYSTEM,
            details={"serial": locked.certificate_serial, "expires_on": expires.isoformat()},
            reason=gettext_noop("证书将于%(d)s到期,系统自动发起证书更新"),
            reason_args={"d": expires.isoformat()},  # read in each reader's language
            tell_customers=False,  # the reminder below tells them
            sweep=RENEWAL_SWEEP,
        )
        renewal_remind(request=request, today=today)
    return request


def renewal_remind(*, request: LinkRequest, today: dt.date | None = None) -> bool:
    """Remind the company's users of an open renewal once per threshold (days before expiry).

    Only the most urgent threshold reached is sent (a request opened late does not get the
    earlier ones); one `renewal_reminded` link event per threshold, under the link's lock."""
    today = today or timezone.localdate()
    with transaction.atomic():
        link = LiveLink.objects.select_for_update().get(pk=request.link_id)
        expires = link.certificate_expires_on
        if expires is None:
            return False
        left = (expires - today).days
        reached = [t for t in renewal_reminder_days() if left <= t]
        if not reached:
            return False
        level = min(reached)
        sent = {
            e.data.get("level") for e in LinkEvent.objects.filter(request=request, name=LinkEvent.Name.RENEWAL_REMINDED)
        }
        if any(s is not None and s <= level for s in sent):
            return False
        if left >= 0:
            text = _("直联服务%(ref)s的证书将于%(d)s到期(还有%(n)s天),请登录企业客户端提交更新后的证书。") % {
                "ref": link.reference,
                "d": expires.isoformat(),
                "n": left,
            }
        else:
            text = _("直联服务%(ref)s的证书已于%(d)s过期,请持经办人身份证到开户网点柜面办理证书更新。") % {
                "ref": link.reference,
                "d": expires.isoformat(),
            }
        link_event(
            link=link,
            name=LinkEvent.Name.RENEWAL_REMINDED,
            actor=None,
            channel=Channel.SYSTEM,
            data={"level": level, "days_left": left},
            request=request,
        )
        customers = _customers(link)
        notices_create(recipients=customers, case_id=request.case_id, kind="link_renewal", text=text)
        outbox.email_queue(
            kind="link_renewal",
            key=f"link-renewal-{request.pk}-{level}",
            to=[u.email for u in customers],
            payload={"subject": _("证书到期提醒"), "text": text},
        )
    return True


def renewal_sweep(*, today: dt.date | None = None) -> SweepResult:
    """The beat entry's work: open what is due, remind what is open. Safe to run at once on several workers."""
    today = today or timezone.localdate()
    result = SweepResult()
    horizon = today + dt.timedelta(days=renewal_lead_days())
    due = LiveLink.objects.filter(
        status__in=(LinkStatus.ACTIVE, LinkStatus.SUSPENDED),
        certificate_expires_on__isnull=False,
        certificate_expires_on__lte=horizon,
    ).exclude(requests__kind=cert_renewal.CODE, requests__is_open=True)
    for link in due.order_by("certificate_expires_on", "pk"):
        try:
            request = renewal_open_for(link=link, today=today)
        except CaseError as exc:  # refused by a launch control, or the account manager has left
            log.warning("links: renewal of %s not opened: %s", link.reference, exc.message)
            result.skipped.append(f"{link.reference}: {exc.message}")
            continue
        if request is not None:
            result.opened.append(request.pk)
            result.reminded += 1
    for request in LinkRequest.objects.filter(kind=cert_renewal.CODE, is_open=True).order_by("pk"):
        if renewal_remind(request=request, today=today):
            result.reminded += 1
    return result


def certificate_submit(*, request: LinkRequest, user: User, serial: str, expires_on: dt.date) -> LinkEvent:
    """The new certificate of a renewal: the customer on the portal, or the counter maker once expired."""
    from onboarding.models import OnboardingCase

    serial = serial.strip().upper()
    if not serial:
        raise CaseError(_("证书序列号未填写"))
    today = timezone.localdate()
    if expires_on <= today:
        raise CaseError(_("新证书的到期日须晚于今天"))
    with transaction.atomic():
        request = LinkRequest.objects.select_related("link").get(pk=request.pk)
        _check_link_access(request.link, user)
        if request.kind != cert_renewal.CODE or not request.is_open:
            raise CaseError(_("该申请已办结"))
        case = OnboardingCase.objects.get(pk=request.case_id)
        if case.state == cert_renewal.CUSTOMER_RENEWS:
            if user.enterprise_id != request.link.enterprise_id:
                raise CaseError(_("此阶段由客户在企业客户端提交新证书"))
            problems = cert_renewal.certificate_expired.problems(case)
            if not problems:
                raise CaseError(_("证书已过期,须到柜面办理更新"))
            channel = Channel.PORTAL
        elif case.state == cert_renewal.COUNTER_ENTERS:
            if not has_role(user, Role.COUNTER_MAKER):
                raise CaseError(_("此阶段由柜面经办录入新证书"))
            channel = Channel.COUNTER
        else:
            raise CaseError(_("当前阶段不能录入新证书"))
        if serial == request.link.certificate_serial:
            raise CaseError(_("新证书序列号与原证书相同"))
        if channel == Channel.PORTAL:
            # The company has done what the reminders asked: they leave its to-do box and bell.
            notices_clear(case_id=request.case_id, kinds=["link_renewal"])
        return link_event(
            link=request.link,
            name=LinkEvent.Name.CERTIFICATE_SUBMITTED,
            actor=user,
            channel=channel,
            data={"serial": serial, "expires_on": expires_on.isoformat()},
            request=request,
        )


# --- suspension and resumption -------------------------------------------------------------------


def suspension_open(
    *,
    link: LiveLink,
    user: User,
    reason_code: str,
    reason: str,
    channel: str | None = None,
    sweep: str = "",
    reason_args: dict[str, Any] | None = None,
) -> LinkRequest:
    """Ask for the link to be suspended: the customer (their own request), the bank (risk or the
    customer's request), the dormancy sweep (dormant). A supervisor decides. `reason_args`: the
    system's sentence (`reason`, a msgid) with its arguments, read in each reader's language."""
    reason = reason.strip()
    if reason_code not in SuspensionReason.values:
        raise CaseError(_("请选择暂停原因"))
    if not reason:
        raise CaseError(_("请填写暂停说明"))
    is_customer = user.enterprise_id is not None
    if is_customer and reason_code != SuspensionReason.CUSTOMER:
        raise CaseError(_("客户只能以“客户申请”为由申请暂停"))
    if reason_code == SuspensionReason.DORMANT and channel != Channel.SYSTEM:
        raise CaseError(_("久悬暂停由系统按无业务时长发起"))
    if link.status != LinkStatus.ACTIVE:
        raise LaunchRefused(
            launch_refusal(link=link, kind=suspension.SUSPENSION) or _("只有状态为“正常”的直联服务可以暂停")
        )
    return request_open(
        link=link,
        kind=suspension.SUSPENSION,
        user=user,
        channel=channel or (Channel.PORTAL if is_customer else Channel.BANK),
        # A person's words are theirs (说明); the system's sentence is read in the reader's language.
        details={"reason_code": reason_code, **({} if reason_args else {"reason": reason})},
        reason=reason,
        sweep=sweep,
        reason_args=reason_args,
    )


def resumption_open(*, link: LiveLink, user: User, reason: str) -> LinkRequest:
    reason = reason.strip()
    if not reason:
        raise CaseError(_("请填写恢复说明"))
    if link.status != LinkStatus.SUSPENDED:
        raise LaunchRefused(
            launch_refusal(link=link, kind=suspension.RESUMPTION) or _("只有状态为“已暂停”的直联服务可以恢复")
        )
    return request_open(
        link=link,
        kind=suspension.RESUMPTION,
        user=user,
        channel=Channel.PORTAL if user.enterprise_id is not None else Channel.BANK,
        details={"reason": reason},
        reason=reason,
    )


def dormant_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Links in service with no event for LINK_DORMANT_DAYS: a suspension request for the
    supervisor's review (never a suspension by itself). Opening it is an event, so a link is
    proposed once per dormant year; of two sweeps at once the second finds it open."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=dormant_days())
    result = SweepResult()
    for link in LiveLink.objects.filter(status=LinkStatus.ACTIVE, last_activity_at__lt=cutoff).order_by("pk"):
        with transaction.atomic():
            locked = LiveLink.objects.select_for_update().select_related("onboarding_case").get(pk=link.pk)
            if locked.status != LinkStatus.ACTIVE or locked.last_activity_at >= cutoff:
                continue
            if launch_refusal(link=locked, kind=suspension.SUSPENSION):
                continue
            owner = _owner(locked)
            if owner is None:
                result.skipped.append(locked.reference)
                continue
            days = (now - locked.last_activity_at).days
            try:
                request = suspension_open(
                    link=locked,
                    user=owner,
                    reason_code=SuspensionReason.DORMANT,
                    reason=gettext_noop("%(n)s天无业务(最近一次:%(d)s)"),
                    reason_args={"n": days, "d": timezone.localdate(locked.last_activity_at).isoformat()},
                    channel=Channel.SYSTEM,
                    sweep=DORMANCY_SWEEP,
                )
            except CaseError as exc:  # another writer opened a request meanwhile, or the manager left
                log.warning("links: dormancy suspension of %s not opened: %s", locked.reference, exc.message)
                result.skipped.append(locked.reference)
                continue
            result.opened.append(request.pk)
    return result


# --- termination, closing, retention, legal hold, purge ------------------------------------------


def termination_open(*, link: LiveLink, user: User, reason: str) -> LinkRequest:
    """注销: the customer on the portal or the account manager; the link turns 注销中 at once."""
    from .services import link_status_set

    reason = reason.strip()
    if not reason:
        raise CaseError(_("请填写注销原因"))
    with transaction.atomic():
        request = request_open(
            link=link,
            kind=termination.CODE,
            user=user,
            channel=Channel.PORTAL if user.enterprise_id is not None else Channel.BANK,
            details={"status_before": link.status, "reason": reason},
            reason=reason,
        )
        link_status_set(
            link=link, status=LinkStatus.CLOSING, actor=user, reason=reason, request=request, channel=request.channel
        )
    return request


def retention_until(closed_on: dt.date) -> dt.date:
    years = retention_years()
    try:
        return closed_on.replace(year=closed_on.year + years)
    except ValueError:  # 29 February
        return closed_on.replace(year=closed_on.year + years, day=28)


def link_close(*, link: LiveLink, actor: User, request: LinkRequest, now: dt.datetime) -> LiveLink:
    """The termination's last step: 已注销 today; records kept until LINK_RETENTION_YEARS later."""
    from .services import link_status_set

    closed = link_status_set(link=link, status=LinkStatus.CLOSED, actor=actor, request=request)
    assert closed.closed_on is not None
    until = retention_until(closed.closed_on)
    LiveLink.objects.filter(pk=closed.pk).update(retention_until=until)
    closed.retention_until = until
    return closed


def _require_head_office(user: User) -> None:
    if not has_role(user, Role.HEAD_OFFICE_APPROVER):
        raise CaseError(_("保全仅限总行公金部审批人员设置或解除"))


def legal_hold_set(*, link: LiveLink, user: User, reason: str) -> LiveLink:
    """A judicial or supervisory hold: the link's records are kept past retention until released."""
    reason = reason.strip()
    _require_head_office(user)
    _check_link_access(link, user)
    if not reason:
        raise CaseError(_("设置保全须填写原因"))
    with transaction.atomic():
        locked = LiveLink.objects.select_for_update().get(pk=link.pk)
        if locked.legal_hold:
            raise CaseError(_("该直联服务已在保全中"))
        LiveLink.objects.filter(pk=locked.pk).update(legal_hold=True, legal_hold_reason=reason[:300])
        link_event(link=locked, name=LinkEvent.Name.LEGAL_HOLD_SET, actor=user, channel=Channel.BANK, reason=reason)
    locked.refresh_from_db()
    return locked


def legal_hold_release(*, link: LiveLink, user: User, reason: str) -> LiveLink:
    reason = reason.strip()
    _require_head_office(user)
    _check_link_access(link, user)
    if not reason:
        raise CaseError(_("解除保全须填写原因"))
    with transaction.atomic():
        locked = LiveLink.objects.select_for_update().get(pk=link.pk)
        if not locked.legal_hold:
            raise CaseError(_("该直联服务未在保全中"))
        LiveLink.objects.filter(pk=locked.pk).update(legal_hold=False, legal_hold_reason="")
        link_event(
            link=locked,
            name=LinkEvent.Name.LEGAL_HOLD_LIFTED,
            actor=user,
            channel=Channel.BANK,
            data={"hold_reason": locked.legal_hold_reason},
            reason=reason,
        )
    locked.refresh_from_db()
    return locked


@dataclass
class PurgeLine:
    link: str
    outcome: str  # "purged", "would_purge", "held"
    operators: int = 0
    ukeys: int = 0


PURGED_NAME = "已清除"


def links_purge(*, apply: bool = False, today: dt.date | None = None) -> list[PurgeLine]:
    """Closed links past their retention date lose the personal data of their operators.

    What purge means here: the counter register's operator rows of the link (name and ID
    number) and its UKeys' holder names are overwritten with placeholders; a `purged` link
    event records how many and `LiveLink.purged_at` when. Nothing is deleted: evidence tables
    (case and link events, counter entries, documents, approvals, the link's version rows) are
    kept as the database protects them, and so are the company's data versions. A link under
    legal hold is skipped and the skip is logged. Dry run unless `apply`."""
    from counter.models import Operator, UKey

    today = today or timezone.localdate()
    lines: list[PurgeLine] = []
    due = LiveLink.objects.filter(
        status=LinkStatus.CLOSED, purged_at__isnull=True, retention_until__isnull=False, retention_until__lt=today
    ).order_by("retention_until", "pk")
    for link in due:
        if link.legal_hold:
            log.warning("links purge: %s skipped, under legal hold (%s)", link.reference, link.legal_hold_reason)
            lines.append(PurgeLine(link.reference, "held"))
            continue
        operators = Operator.objects.filter(case_id=link.onboarding_case_id)
        ukeys = UKey.objects.filter(case_id=link.onboarding_case_id)
        line = PurgeLine(link.reference, "would_purge", operators.count(), ukeys.count())
        if apply:
            with transaction.atomic():
                locked = LiveLink.objects.select_for_update().get(pk=link.pk)
                if locked.legal_hold or locked.purged_at is not None:
                    log.warning("links purge: %s skipped, held or purged meanwhile", link.reference)
                    lines.append(PurgeLine(link.reference, "held"))
                    continue
                for op in operators:
                    Operator.objects.filter(pk=op.pk).update(name=PURGED_NAME, id_number=f"PURGED{op.pk:012d}"[-18:])
                ukeys.update(holder=PURGED_NAME)
                now = timezone.now()
                LiveLink.objects.filter(pk=locked.pk).update(purged_at=now)
                link_event(
                    link=locked,
                    name=LinkEvent.Name.PURGED,
                    actor=None,
                    channel=Channel.SYSTEM,
                    data={
                        "operators": line.operators,
                        "ukeys": line.ukeys,
                        "retention_until": str(locked.retention_until),
                    },
                    now=now,
                )
            line.outcome = "purged"
        log.warning(
            "links purge: %s %s (operators %s, UKeys %s)", link.reference, line.outcome, line.operators, line.ukeys
        )
        lines.append(line)
    return lines


def renewal_mail(row: Any) -> tuple[str, str]:
    """The renewal reminder's mail (a `notices.outbox` renderer, kind "link_renewal")."""
    return str(row.payload.get("subject", "")), str(row.payload.get("text", ""))


# --- what the request types' transitions do to the link (links.requests.common.effects) -----------


@effects.add(key="certificate_renew")
def _certificate_renew(*, case: Any, request: LinkRequest, by: User, now: dt.datetime) -> None:
    """The newest submitted certificate becomes the link's (an event on the link)."""
    submitted = request.events.filter(name=LinkEvent.Name.CERTIFICATE_SUBMITTED).order_by("-created_at", "-pk").first()
    assert submitted is not None
    link = LiveLink.objects.select_for_update().get(pk=request.link_id)
    old = {"serial": link.certificate_serial, "expires_on": str(link.certificate_expires_on or "")}
    link.certificate_serial = submitted.data["serial"]
    link.certificate_expires_on = dt.date.fromisoformat(submitted.data["expires_on"])
    link.save(update_fields=["certificate_serial", "certificate_expires_on"])
    notices_clear(case_id=request.case_id, kinds=["link_renewal"])  # renewed: the reminders are done
    link_event(
        link=link,
        name=LinkEvent.Name.CERTIFICATE_RENEWED,
        actor=by,
        channel=submitted.channel,
        data={"from": old, "to": {k: submitted.data[k] for k in ("serial", "expires_on")}},
        request=request,
        now=now,
    )


@effects.add(key="link_status")
def _link_status(*, case: Any, request: LinkRequest, by: User, now: dt.datetime, status: str) -> None:
    from .services import _in_chinese, link_status_set

    said = request.details
    # A person's words as written; the system's sentence (a sweep's) in words, as the record keeps it.
    reason = str(said.get("reason", "")) or (
        _in_chinese(said["reason_msg"], said["reason_args"])
        if said.get("reason_msg") and said.get("reason_args")
        else ""
    )
    link_status_set(link=request.link, status=status, actor=by, reason=reason, request=request)


@effects.add(key="status_back")
def _status_back(*, case: Any, request: LinkRequest, by: User, now: dt.datetime) -> None:
    """A termination rejected or withdrawn: the link goes back to the status it had."""
    from .services import link_status_set

    link_status_set(
        link=request.link, status=request.details.get("status_before", LinkStatus.ACTIVE), actor=by, request=request
    )


@effects.add(key="revocation_made")
def _revocation_made(*, case: Any, request: LinkRequest, by: User, now: dt.datetime) -> None:
    link_event(
        link=request.link,
        name=LinkEvent.Name.REVOCATION_MADE,
        actor=by,
        channel=Channel.COUNTER,
        data={"ukeys": [k.serial for k in termination.ukeys_in_use(case)]},
        request=request,
        now=now,
    )


@effects.add(key="revocation_confirmed")
def _revocation_confirmed(*, case: Any, request: LinkRequest, by: User, now: dt.datetime) -> None:
    """Every key in use is revoked in the counter's register; the link's operator rows end."""
    from counter import services as counter

    from .services import link_operator_rotate

    link = request.link
    reason = _("直联服务注销(%(ref)s)") % {"ref": case.reference}
    for key in termination.ukeys_in_use(case):
        revoked = counter.ukey_revoke(ukey=key, user=by, reason=reason)
        event = link_event(
            link=link,
            name=LinkEvent.Name.UKEY_REVOKED,
            actor=by,
            channel=Channel.COUNTER,
            data={"ukey": revoked.serial, "holder": revoked.holder},
            reason=reason,
            request=request,
            now=now,
        )
        link_operator_rotate(link=link, operator=revoked.operator, event=event, ukey=None, ended=True, now=now)


@effects.add(key="link_disabled")
def _link_disabled(*, case: Any, request: LinkRequest, by: User, now: dt.datetime) -> None:
    link_event(
        link=request.link,
        name=LinkEvent.Name.LINK_DISABLED,
        actor=by,
        channel=Channel.BANK,
        data={"endpoint": request.link.production_endpoint},
        request=request,
        now=now,
    )


@effects.add(key="link_closed")
def _link_closed(*, case: Any, request: LinkRequest, by: User, now: dt.datetime) -> None:
    link_close(link=request.link, actor=by, request=request, now=now)
