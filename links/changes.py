"""Writes for the change requests on a live link: operator change and accounts/modules change.

Both open through `services.request_open` (the launch controls) and move through their case's
transitions (`case_services.case_transition`); the effects on the link go through
`services.link_operator_rotate` / `services.link_accounts_replace`, each with a link event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from branches.roles import Role, has_role
from companies.validators import validate_resident_id
from counter import services as counter
from counter.models import CounterEntry, Operator, OperatorRole, UKey
from onboarding import services as case_services
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.services import CaseError

from . import services
from .models import Channel, LinkEvent, LinkRequest, LiveLink
from .requests import operator_change as oc

if TYPE_CHECKING:
    from accounts.models import User

# The roles an operator change may give (经办/复核/授权).
CHANGE_ROLES = (OperatorRole.ENTRY, OperatorRole.REVIEW, OperatorRole.AUTHORISE)


def _channel(user: User) -> str:
    return Channel.PORTAL if user.enterprise_id is not None else Channel.BANK


def _may_ask(link: LiveLink, user: User) -> None:
    if not (user.enterprise_id == link.enterprise_id or has_role(user, Role.ACCOUNT_MANAGER)):
        raise CaseError(_("变更申请仅限本企业用户或客户经理提交"))


def _open(
    *,
    link: LiveLink,
    kind: str,
    user: User,
    details: dict[str, Any],
    reason: str,
    channel: str = "",
    sweep: str = "",
    reason_args: dict[str, Any] | None = None,
) -> LinkRequest:
    """Open the request; its case is the account manager's of the link's onboarding case (`sweep`,
    `reason_args`: see `services.request_open`)."""
    request = services.request_open(
        link=link,
        kind=kind,
        user=user,
        channel=channel or _channel(user),
        details=details,
        reason=reason,
        sweep=sweep,
        reason_args=reason_args,
    )
    manager = link.onboarding_case.account_manager_id
    if manager is not None:
        OnboardingCase.objects.filter(pk=request.case_id, account_manager__isnull=True).update(
            account_manager_id=manager
        )
    return request


def _locked(request: LinkRequest, kind: str) -> LinkRequest:
    locked = LinkRequest.objects.select_for_update().select_related("link").get(pk=request.pk)
    if locked.kind != kind:
        raise CaseError(_("申请类型不符"))
    if not locked.is_open:
        raise CaseError(_("该申请已办结"))
    return locked


def _case(request: LinkRequest) -> OnboardingCase:
    return OnboardingCase.objects.get(pk=request.case_id)


def _maker_of(case: OnboardingCase, state: str) -> int | None:
    """Who moved the case into `state` last (the maker, for the checking stage)."""
    event = (
        CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.TRANSITION, to_state=state)
        .order_by("-created_at", "-pk")
        .first()
    )
    return event.actor_id if event is not None else None


# --- operator change ---------------------------------------------------------------------------------


def operator_change_open(
    *,
    link: LiveLink,
    user: User,
    action: str,
    operator_id: int | None = None,
    name: str = "",
    id_number: str = "",
    role: str = "",
    reason: str = "",
) -> LinkRequest:
    """The customer or the account manager asks to add, remove or re-role an operator."""
    _may_ask(link, user)
    current = {o.operator_id: o for o in link.current_operators().select_related("operator")}
    details: dict[str, Any] = {"action": action}
    if action == oc.ADD:
        name, id_number = name.strip(), id_number.strip().upper()
        if not name:
            raise CaseError(_("操作员姓名未填写"))
        try:
            validate_resident_id(id_number)
        except ValidationError as exc:
            raise CaseError(exc.messages[0]) from None
        if any(o.operator.id_number == id_number for o in current.values()):
            raise CaseError(_("该身份证号已是本直联服务的操作员"))
        if role not in CHANGE_ROLES:
            raise CaseError(_("操作员角色无效"))
        details.update(name=name, id_number=id_number, role=role)
    elif action in (oc.REMOVE, oc.ROLE):
        row = current.get(operator_id or 0)
        if row is None:
            raise CaseError(_("请选择本直联服务的在任操作员"))
        details.update(operator_id=row.operator_id, name=row.name, old_role=row.role)
        if action == oc.REMOVE:
            if len(current) <= 1:
                raise CaseError(_("直联服务至少须保留一名操作员"))
        else:
            if role not in CHANGE_ROLES:
                raise CaseError(_("操作员角色无效"))
            if role == row.role:
                raise CaseError(_("新角色与现角色相同"))
            details["role"] = role
    else:
        raise CaseError(_("变更类型无效"))
    return _open(link=link, kind=oc.CODE, user=user, details=details, reason=reason.strip())


def operator_change_make(
    *, request: LinkRequest, user: User, serial: str = "", expires_on: Any = None, notes: str = ""
) -> CounterEntry | None:
    """The counter maker records the change; for an added operator: the person and the new K宝 (pending)."""
    with transaction.atomic():
        request = _locked(request, oc.CODE)
        case = _case(request)
        if case.state != oc.COUNTER:
            raise CaseError(_("当前阶段不能录入变更"))
        if not has_role(user, Role.COUNTER_MAKER):
            raise CaseError(_("此操作仅限:%(roles)s") % {"roles": str(Role.COUNTER_MAKER.label)})
        entry = None
        details = request.details
        if details["action"] == oc.ADD:
            onboarding = request.link.onboarding_case
            operator = Operator.objects.filter(
                case=onboarding, id_number=details["id_number"], removed_at__isnull=True
            ).first()
            if operator is None:  # a return to the maker keeps the person already named
                operator = counter.operator_add(
                    case=onboarding,
                    user=user,
                    name=details["name"],
                    id_number=details["id_number"],
                    role=details["role"],
                )
            entry = counter.ukey_issuance_make(
                case=onboarding, user=user, operator=operator, serial=serial, expires_on=expires_on, notes=notes
            )
        case_services.case_transition(case=case, user=user, name="operator_change_entered")
    return entry


def operator_change_return(*, request: LinkRequest, user: User, reason: str) -> None:
    """Back to the maker: the maker's pending K宝 entry is cancelled (by the maker) first."""
    with transaction.atomic():
        request = _locked(request, oc.CODE)
        case = _case(request)
        entry = oc.pending_issuance(case)
        if entry is not None:
            counter.entry_cancel(entry=entry, user=user, reason=reason)
        case_services.case_transition(case=case, user=user, name="operator_change_returned", reason=reason or "-")


def operator_change_confirm(*, request: LinkRequest, user: User) -> LinkEvent:
    """A counter checker who is not the maker confirms: the change takes effect on the link."""
    with transaction.atomic():
        request = _locked(request, oc.CODE)
        case = _case(request)
        if case.state != oc.CHECKING:
            raise CaseError(_("当前阶段不能复核变更"))
        if not has_role(user, Role.COUNTER_CHECKER):
            raise CaseError(_("此操作仅限:%(roles)s") % {"roles": str(Role.COUNTER_CHECKER.label)})
        maker_id = _maker_of(case, oc.CHECKING)
        if maker_id == user.pk:
            raise CaseError(_("不能复核自己录入的事项"))
        link = LiveLink.objects.select_for_update().get(pk=request.link_id)
        details = request.details
        action = details["action"]
        now = timezone.now()
        data: dict[str, Any] = {"action": action, "name": details.get("name", ""), "case": case.reference}
        rotate: dict[str, Any]
        if action == oc.ADD:
            pending = oc.pending_issuance(case)
            if pending is None:
                raise CaseError(_("没有待复核的UKey录入"))
            counter.entry_confirm(entry=pending, user=user)
            ukey = UKey.objects.get(issued_entry=pending)
            operator = ukey.operator
            data.update(role=details["role"], ukey=ukey.serial)
            rotate = {"ukey": ukey, "role": details["role"]}
        else:
            operator = Operator.objects.get(pk=details["operator_id"])
            row = link.current_operators().filter(operator=operator).first()
            if row is None:
                raise CaseError(_("该操作员已不在本直联服务"))
            if action == oc.REMOVE:
                revoked = []
                for key in operator.ukeys.all():
                    if key.in_use:
                        counter.ukey_revoke(ukey=key, user=user, reason=_("操作员变更:删除操作员"))
                        revoked.append(key.serial)
                # The register records the maker's removal (the maker of the checked entry).
                maker = get_user_model().objects.get(pk=maker_id) if maker_id is not None else user
                counter.operator_remove(operator=operator, user=maker, reason=_("操作员变更:删除操作员"))
                data.update(revoked=revoked, ukey=", ".join(revoked))
                rotate = {"ukey": None, "ended": True}
            else:
                data.update(old_role=row.role, role=details["role"])
                rotate = {"ukey": row.ukey, "role": details["role"]}
        event = services.link_event(
            link=link,
            name=LinkEvent.Name.OPERATORS_CHANGED,
            actor=user,
            channel=Channel.COUNTER,
            data=data,
            request=request,
            now=now,
        )
        services.link_operator_rotate(link=link, operator=operator, event=event, now=now, **rotate)
        case_services.case_transition(case=case, user=user, name="operator_change_confirmed")
    return event


# --- accounts or modules change ------------------------------------------------------------------------


def _clean_accounts(accounts: list[dict[str, Any]], modules: list[str]) -> list[dict[str, Any]]:
    pays = bool(services.PAYMENT_MODULES & set(modules))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for a in accounts:
        number = str(a.get("account_number", "")).strip()
        if not number:
            raise CaseError(_("账号未填写"))
        if number in seen:
            raise CaseError(_("账号 %(n)s 重复") % {"n": number})
        seen.add(number)
        row = {
            "account_number": number,
            "account_name": str(a.get("account_name", "")).strip(),
            "opening_branch": str(a.get("opening_branch", "")).strip(),
            "can_query": bool(a.get("can_query")),
            "can_pay": bool(a.get("can_pay")),
        }
        if not (row["can_query"] or row["can_pay"]):
            raise CaseError(_("账号 %(n)s 须至少开通查询或支付权限") % {"n": number})
        if row["can_pay"] and not pays:
            raise CaseError(_("账号 %(n)s 开通支付权限须同时开通支付类功能模块") % {"n": number})
        out.append(row)
    if not out:
        raise CaseError(_("直联服务至少须保留一个账户"))
    return out


def account_change_open(
    *, link: LiveLink, user: User, accounts: list[dict[str, Any]], modules: list[str], reason: str = ""
) -> LinkRequest:
    """The customer or the account manager asks for the link's accounts and modules to become these."""
    from onboarding.change_requests import change_request_file
    from onboarding.terms import Module

    from .requests import account_change as ac

    _may_ask(link, user)
    reason = reason.strip()
    unknown = [m for m in modules if m not in Module.values]
    if unknown or not modules:
        raise CaseError(_("请选择有效的功能模块"))
    modules = [m for m in Module.values if m in modules]  # the declared order, no repeats
    rows = _clean_accounts(accounts, modules)
    current = {a.account_number: a for a in link.current_accounts()}
    wanted = {a["account_number"]: a for a in rows}
    keys = ("account_name", "opening_branch", "can_query", "can_pay")
    changed_accounts = set(current) != set(wanted) or any(
        any(getattr(current[n], k) != wanted[n][k] for k in keys) for n in wanted
    )
    added_modules = [m for m in modules if m not in link.modules]
    removed_modules = [m for m in link.modules if m not in modules]
    if not changed_accounts and not added_modules and not removed_modules:
        raise CaseError(_("变更内容与现有设置相同"))
    version = link.company_version
    known = {a.get("account_number") for a in (version.accounts or [])}
    new_accounts = [a for a in rows if a["account_number"] not in known]
    details = {
        "accounts": rows,
        "modules": modules,
        "added_modules": added_modules,
        "removed_modules": removed_modules,
        "added_accounts": [n for n in wanted if n not in current],
        "removed_accounts": [n for n in current if n not in wanted],
        # Only the added payment modules are tested (the onboarding's joint-test matrix).
        "test_modules": [m for m in added_modules if m in services.PAYMENT_MODULES],
    }
    with transaction.atomic():
        request = _open(link=link, kind=ac.CODE, user=user, details=details, reason=reason)
        # The request case works on the link's approved data and tests only the added payment modules.
        OnboardingCase.objects.filter(pk=request.case_id).update(
            company_version=version, modules=details["test_modules"]
        )
        if new_accounts:
            # An account the approved data lacks: the data moves through a company-data change request.
            case = OnboardingCase.objects.get(pk=request.case_id)
            change_request_file(
                case=case,
                user=user,
                data={f: getattr(version, f) for f in _proposed_fields()},
                accounts=[
                    *[
                        {k: a.get(k, "") for k in ("account_number", "account_name", "opening_branch")}
                        for a in version.accounts or []
                    ],
                    *[{k: a[k] for k in ("account_number", "account_name", "opening_branch")} for a in new_accounts],
                ],
                reason=reason or _("直联服务新增账户"),
            )
    return request


def _proposed_fields() -> tuple[str, ...]:
    from onboarding.change_requests import PROPOSED_FIELDS

    return PROPOSED_FIELDS


def account_change_complete(*, request: LinkRequest, user: User) -> list[LinkEvent]:
    """Head-office tech puts the change into production: accounts, modules and data version move."""
    from .requests import account_change as ac

    with transaction.atomic():
        request = _locked(request, ac.CODE)
        case = _case(request)
        if case.state != ac.SETUP:
            raise CaseError(_("当前阶段不能使变更生效"))
        if not has_role(user, Role.TECH_REVIEWER):
            raise CaseError(_("此操作仅限:%(roles)s") % {"roles": str(Role.TECH_REVIEWER.label)})
        link = LiveLink.objects.select_for_update().get(pk=request.link_id)
        details = request.details
        now = timezone.now()
        made: list[LinkEvent] = []

        def event(name: str, data: dict[str, Any]) -> LinkEvent:
            e = services.link_event(
                link=link, name=name, actor=user, channel=Channel.BANK, data=data, request=request, now=now
            )
            made.append(e)
            return e

        if case.company_version is not None and case.company_version_id != link.company_version_id:
            old = link.company_version.number if link.company_version is not None else None
            LiveLink.objects.filter(pk=link.pk).update(company_version_id=case.company_version_id)
            event(
                LinkEvent.Name.COMPANY_VERSION_CHANGED,
                {"from_version": old, "to_version": case.company_version.number, "case": case.reference},
            )
        if details["added_accounts"] or details["removed_accounts"] or _rights_changed(link, details["accounts"]):
            changed = event(
                LinkEvent.Name.ACCOUNTS_CHANGED,
                {
                    "added": details["added_accounts"],
                    "removed": details["removed_accounts"],
                    "accounts": [a["account_number"] for a in details["accounts"]],
                    "case": case.reference,
                },
            )
            services.link_accounts_replace(link=link, accounts=details["accounts"], event=changed, now=now)
        if details["added_modules"] or details["removed_modules"]:
            LiveLink.objects.filter(pk=link.pk).update(modules=details["modules"])
            event(
                LinkEvent.Name.MODULES_CHANGED,
                {"added": details["added_modules"], "removed": details["removed_modules"], "case": case.reference},
            )
        case_services.case_transition(case=case, user=user, name="account_change_completed")
    return made


def _rights_changed(link: LiveLink, accounts: list[dict[str, Any]]) -> bool:
    current = {a.account_number: a for a in link.current_accounts()}
    keys = ("account_name", "opening_branch", "can_query", "can_pay")
    return any(
        n in current and any(getattr(current[n], k) != a[k] for k in keys)
        for n, a in ((a["account_number"], a) for a in accounts)
    )


# --- periodic review (定期复核) -------------------------------------------------------------------------


def _add_months(day: Any, months: int) -> Any:
    import calendar

    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def review_due_on(link: LiveLink) -> Any:
    """The day the link's next periodic review falls due: its last review's close (or go-live)
    plus the months of its risk level (`LINK_REVIEW_MONTHS`; an unassessed link counts as medium)."""
    basis = review_basis(link)
    return _add_months(basis.since, basis.months)


# How a link's risk level reads in a review's reason (msgids; read in the reader's language).
RISK_WORDS = {
    "high": gettext_noop("高风险"),
    "medium": gettext_noop("中风险"),
    "low": gettext_noop("低风险"),
    "": gettext_noop("风险等级未评定(按中风险)"),
}
REVIEW_SWEEP = gettext_noop("定期复核检查")


@dataclass(frozen=True)
class ReviewBasis:
    """What a link's next periodic review counts from: its risk level (as assessed at
    onboarding; "" unassessed, counted as medium), the months of that level, and the day
    counted from: its last review's close, or (never reviewed) its go-live."""

    level: str
    months: int
    since: Any
    reviewed_before: bool

    def reason(self) -> tuple[str, dict[str, Any]]:
        """Why the review is due, as a msgid and its arguments (read in each reader's language)."""
        args = {"level": RISK_WORDS.get(self.level, RISK_WORDS[""]), "d": self.since.isoformat(), "n": self.months}
        if self.reviewed_before:
            return gettext_noop("%(level)s,上次复核 %(d)s,每 %(n)s 个月复核"), args
        return gettext_noop("%(level)s,上线 %(d)s 后未复核,每 %(n)s 个月复核"), args


def review_basis(link: LiveLink) -> ReviewBasis:
    from django.conf import settings

    from .requests import periodic_review as pr

    months = settings.LINK_REVIEW_MONTHS
    level = link.onboarding_case.risk_level or ""
    last = (
        LinkRequest.objects.filter(link=link, kind=pr.CODE, is_open=False)
        .order_by("-closed_at")
        .values_list("closed_at", flat=True)
        .first()
    )
    return ReviewBasis(
        level=level,
        months=int(months.get(level or "medium", months["medium"])),
        since=timezone.localdate(last or link.went_live_at),
        reviewed_before=last is not None,
    )


def periodic_reviews_open(*, today: Any = None) -> list[LinkRequest]:
    """Open one periodic review on every active link whose review is due and none is open (idempotent)."""
    from .models import LinkStatus
    from .requests import periodic_review as pr

    today = today or timezone.localdate()
    opened = []
    under_review = LinkRequest.objects.filter(kind=pr.CODE, is_open=True).values("link_id")
    links = LiveLink.objects.filter(status=LinkStatus.ACTIVE).exclude(pk__in=under_review)
    for link in links.select_related("onboarding_case", "onboarding_case__account_manager"):
        basis = review_basis(link)
        if _add_months(basis.since, basis.months) > today:  # review_due_on, with its basis kept for the reason
            continue
        manager = link.onboarding_case.account_manager
        if manager is None:
            continue  # nobody to hold it: the link list shows it unreviewed (nothing opened half-way)
        reason, reason_args = basis.reason()
        try:
            opened.append(
                _open(
                    link=link,
                    kind=pr.CODE,
                    user=manager,
                    details={"due_on": today.isoformat()},
                    reason=reason,
                    reason_args=reason_args,
                    channel=Channel.SYSTEM,
                    sweep=REVIEW_SWEEP,
                )
            )
        except (services.LaunchRefused, CaseError):
            continue  # another sweep opened it first, or a termination is under way
    return opened
