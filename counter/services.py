"""Writes for the counter: operators, maker–checker entries and the UKey register.

Dual control (seed 003, 第三十六、三十七条): a counter maker records an entry; it takes effect
only when a counter checker who is not the maker confirms it; until then the maker (and only
the maker) may cancel it. Nothing is deleted. Every step writes a `CaseEvent`.

Loss report / release and revocation are single-person records by counter staff: the source
rules handle them "比照补办证书业务" (maker plus supervisor authorisation, no checker). A
replacement (补办) issues a new key and therefore is a maker–checker entry like any issuance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import Role, has_role
from branches.scope import case_in_scope
from casetypes import declaration
from casetypes.declaration import Feature, StateSet
from companies.validators import normalise_id_number, normalise_person_name, validate_resident_id
from onboarding import events
from onboarding.models import OnboardingCase
from onboarding.services import CaseError, case_write

from . import notifications
from .models import CounterEntry, Operator, OperatorRole, UKey
from .rules import answers_for, operator_conflicts

if TYPE_CHECKING:
    from accounts.models import User

# Counter entries are made where a case type declares the counter (while UKeys are issued, and
# later for replacements of a live link); operators can be named where it declares them.
COUNTER_STATES = StateSet(lambda: declaration.states_with(Feature.COUNTER))
OPERATOR_STATES = StateSet(lambda: declaration.states_with(Feature.OPERATORS))
DEFAULT_CERT_YEARS = 2


def _require(case: OnboardingCase, user: User, *roles: str) -> None:
    if not has_role(user, *roles):
        names = "、".join(str(Role(r).label) for r in roles)
        raise CaseError(_("此操作仅限:%(roles)s") % {"roles": names})
    if not case_in_scope(case, user):
        raise CaseError(_("该案件不在您的管辖范围内"))


def _require_state(case: OnboardingCase, states: Sequence[str]) -> None:
    if case.state not in states:
        raise CaseError(_("当前阶段不能办理此柜面事项"))


def _entry_data(entry: CounterEntry) -> dict[str, Any]:
    return {"entry": entry.pk, "kind": entry.kind, "subject": entry.subject}


# --- operators ------------------------------------------------------------------------------


def operator_add(
    *, case: OnboardingCase, user: User, name: str, id_number: str, role: str, expected_version: int | None = None
) -> Operator:
    _require(case, user, Role.ACCOUNT_MANAGER, Role.COUNTER_MAKER)
    _require_state(case, OPERATOR_STATES)
    name, id_number = name.strip(), id_number.strip().upper()
    if not name:
        raise CaseError(_("操作员姓名未填写"))
    if role not in OperatorRole.values:
        raise CaseError(_("操作员角色无效"))
    try:
        validate_resident_id(id_number)
    except ValidationError as exc:
        raise CaseError(exc.messages[0]) from None
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        case = w.case
        if case.operators.filter(id_number=id_number, removed_at__isnull=True).exists():
            raise CaseError(_("该身份证号已登记为操作员"))
        conflicts = operator_conflicts(name, id_number, enterprise=case.enterprise)
        if conflicts:
            raise CaseError(conflicts[0], conflicts[1:])
        operator = Operator.objects.create(case=case, name=name, id_number=id_number, role=role, created_by=user)
        events.operator_added(case=case, actor=user, operator_id=operator.pk, name=name, role=role)
    return operator


def operator_remove(
    *, operator: Operator, user: User, reason: str = "", expected_version: int | None = None
) -> Operator:
    case = operator.case
    _require(case, user, Role.ACCOUNT_MANAGER, Role.COUNTER_MAKER)
    _require_state(case, OPERATOR_STATES)
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        case = w.case
        operator = Operator.objects.select_for_update().get(pk=operator.pk)
        if operator.removed_at is not None:
            raise CaseError(_("该操作员已删除"))
        if any(k.in_use for k in operator.ukeys.all()):
            raise CaseError(_("请先注销该操作员的UKey"))
        if operator.entries.filter(status=CounterEntry.Status.PENDING).exists():
            raise CaseError(_("该操作员尚有待复核事项"))
        operator.removed_at = timezone.now()
        operator.removed_by = user
        operator.save(update_fields=["removed_at", "removed_by"])
        events.operator_removed(
            case=case, actor=user, operator_id=operator.pk, name=operator.name, reason=reason.strip()
        )
    return operator


# --- maker: entries -------------------------------------------------------------------------


def identity_check_make(
    *,
    case: OnboardingCase,
    user: User,
    person: str,
    person_name: str,
    id_number: str,
    notes: str = "",
    expected_version: int | None = None,
) -> CounterEntry:
    """The legal representative or the handler came in person; the ID card matches the records."""
    _require(case, user, Role.COUNTER_MAKER)
    _require_state(case, COUNTER_STATES)
    person_name, id_number = person_name.strip(), id_number.strip().upper()
    enterprise = case.company  # the approved data, not the company as it may be today
    if person == CounterEntry.Person.LEGAL_REP:
        expected_name, expected_id = enterprise.legal_rep_name, enterprise.legal_rep_id_number
    elif person == CounterEntry.Person.HANDLER:
        expected_name, expected_id = enterprise.handler_name, enterprise.handler_id_number
    else:
        raise CaseError(_("请选择到柜人员"))
    problems = []
    try:
        validate_resident_id(id_number)
    except ValidationError as exc:
        problems.extend(exc.messages)
    if id_number != normalise_id_number(expected_id):
        problems.append(_("身份证号与企业登记资料不符"))
    if normalise_person_name(person_name) != normalise_person_name(expected_name):
        problems.append(_("姓名与企业登记资料不符"))
    if person == CounterEntry.Person.HANDLER and not enterprise.handler_is_legal_rep:
        today = timezone.localdate()
        valid_from, valid_until = enterprise.authorisation_valid_from, enterprise.authorisation_valid_until
        if not (valid_from and valid_until and valid_from <= today <= valid_until):
            problems.append(_("法人授权委托书不在有效期内"))
        if not enterprise.authorisation_covers_ebanking:
            problems.append(_("授权范围不含电子银行业务"))
    if problems:
        raise CaseError(_("身份核验未通过"), problems)
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        case = w.case
        entry = CounterEntry.objects.create(
            case=case,
            kind=CounterEntry.Kind.IDENTITY_CHECK,
            person=person,
            person_name=person_name,
            id_number=id_number,
            notes=notes.strip(),
            maker=user,
        )
        events.counter_entry_made(case=case, actor=user, entry=_entry_data(entry))
        notifications.entry_awaiting_check(case=case, entry=entry)
    return entry


def _check_issuable(
    case: OnboardingCase, operator: Operator, serial: str, replaces: UKey | None, entry: CounterEntry | None = None
) -> None:
    if operator.case_id != case.pk or operator.removed_at is not None:
        raise CaseError(_("操作员不属于本案件或已删除"))
    if UKey.objects.filter(serial=serial).exists():
        raise CaseError(_("K宝编号 %(s)s 已被登记") % {"s": serial})
    pending = CounterEntry.objects.filter(kind=CounterEntry.Kind.ISSUE_UKEY, status=CounterEntry.Status.PENDING)
    if entry is not None:
        pending = pending.exclude(pk=entry.pk)
    if pending.filter(serial=serial).exists():
        raise CaseError(_("K宝编号 %(s)s 已有待复核的发放") % {"s": serial})
    if replaces is None:
        if any(k.in_use for k in operator.ukeys.all()):
            raise CaseError(_("操作员 %(n)s 已有UKey,请办理补办") % {"n": operator.name})
        if pending.filter(operator=operator, replaces__isnull=True).exists():
            raise CaseError(_("操作员 %(n)s 已有待复核的UKey发放") % {"n": operator.name})
    else:
        if replaces.operator_id != operator.pk or not replaces.in_use:
            raise CaseError(_("只能补办该操作员在用的UKey"))
        if pending.filter(replaces=replaces).exists():
            raise CaseError(_("该UKey已有待复核的补办"))


def ukey_register_imported(
    *,
    case: OnboardingCase,
    operator: Operator,
    serial: str,
    expires_on: dt.date,
    in_use_since: dt.datetime,
    source: dict[str, Any],
) -> UKey:
    """Record in the register a key a bank's spreadsheet says an operator of a live link holds,
    as it exists at the bank: in use (activated) since the link went live, held by the operator,
    expiring with the link's certificate. Its origin is the import (job, file and row in
    `source`), not a counter entry: the bank issued it before the tracker knew the link. Called
    inside the link import's transaction; a serial the register already holds is refused with it."""
    from .selectors import ukey_serials_taken

    if ukey_serials_taken([serial]):
        raise CaseError(_("K宝编号 %(s)s 已在UKey登记簿中,不能重复导入") % {"s": serial})
    try:
        with transaction.atomic():  # a concurrent import of the same serial loses here, by name
            return UKey.objects.create(
                case=case,
                operator=operator,
                serial=serial,
                holder=operator.name,
                status=UKey.Status.ACTIVATED,
                expires_on=expires_on,
                origin=UKey.Origin.IMPORTED,
                import_source=source,
                issued_at=in_use_since,
                activated_at=in_use_since,
            )
    except IntegrityError:
        raise CaseError(_("K宝编号 %(s)s 已在UKey登记簿中,不能重复导入") % {"s": serial}) from None


def ukey_issuance_make(
    *,
    case: OnboardingCase,
    user: User,
    operator: Operator,
    serial: str,
    expires_on: dt.date | None = None,
    holder: str = "",
    replaces: UKey | None = None,
    notes: str = "",
    expected_version: int | None = None,
) -> CounterEntry:
    """Bind a K宝 (serial) to an operator's certificate (申请证书/补办证书), pending the checker."""
    _require(case, user, Role.COUNTER_MAKER)
    _require_state(case, COUNTER_STATES)
    serial = serial.strip().upper()
    if not serial:
        raise CaseError(_("K宝编号未填写"))
    today = timezone.localdate()
    expires_on = expires_on or today.replace(year=today.year + DEFAULT_CERT_YEARS)
    if expires_on <= today:
        raise CaseError(_("证书到期日须晚于今天"))
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        case = w.case
        _check_issuable(case, operator, serial, replaces)
        entry = CounterEntry.objects.create(
            case=case,
            kind=CounterEntry.Kind.ISSUE_UKEY,
            operator=operator,
            serial=serial,
            holder=holder.strip() or operator.name,
            expires_on=expires_on,
            replaces=replaces,
            notes=notes.strip(),
            maker=user,
        )
        made = events.ukey_replacement_made if replaces else events.counter_entry_made
        made(
            case=case,
            actor=user,
            entry={**_entry_data(entry), "serial": serial, "replaces": replaces.serial if replaces else ""},
        )
        notifications.entry_awaiting_check(case=case, entry=entry)
    return entry


def cert_activation_make(
    *, case: OnboardingCase, user: User, ukey: UKey, notes: str = "", expected_version: int | None = None
) -> CounterEntry:
    """The customer downloaded the certificate and asks for activation (激活证书)."""
    _require(case, user, Role.COUNTER_MAKER)
    _require_state(case, COUNTER_STATES)
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        case = w.case
        ukey = UKey.objects.select_related("operator").get(pk=ukey.pk)
        if ukey.case_id != case.pk:
            raise CaseError(_("该UKey不属于本案件"))
        if ukey.status != UKey.Status.DOWNLOADED:
            raise CaseError(
                _("证书须先下载到K宝才能激活(当前:%(s)s)") % {"s": ukey.get_status_display()}  # type: ignore[attr-defined]
            )
        if ukey.activation_entries.filter(status=CounterEntry.Status.PENDING).exists():
            raise CaseError(_("该UKey已有待复核的激活"))
        entry = CounterEntry.objects.create(
            case=case, kind=CounterEntry.Kind.CERT_ACTIVATION, ukey=ukey, notes=notes.strip(), maker=user
        )
        events.counter_entry_made(case=case, actor=user, entry={**_entry_data(entry), "serial": ukey.serial})
        notifications.entry_awaiting_check(case=case, entry=entry)
    return entry


# --- checker and maker: confirm or cancel ---------------------------------------------------------


def _set_status(entry: CounterEntry, status: str, **fields: Any) -> None:
    """Change a pending entry's status; of two people acting at once only one gets the row."""
    updated = CounterEntry.objects.filter(pk=entry.pk, status=CounterEntry.Status.PENDING).update(
        status=status, **fields
    )
    if not updated:
        raise CaseError(_("该事项已被他人处理,请刷新页面。"))
    entry.status = status
    for key, value in fields.items():
        setattr(entry, key, value)


def entry_confirm(*, entry: CounterEntry, user: User, expected_version: int | None = None) -> CounterEntry:
    """A counter checker who is not the maker confirms the entry; only now does it take effect."""
    case = entry.case
    _require(case, user, Role.COUNTER_CHECKER)
    _require_state(case, COUNTER_STATES)
    if entry.maker_id == user.pk:
        raise CaseError(_("不能复核自己录入的事项"))
    if answers_for(entry, user):
        raise CaseError(_("不能复核由您代为负责的录入事项"))
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        case = w.case
        entry = CounterEntry.objects.select_related("operator", "ukey", "replaces").get(pk=entry.pk)
        if not entry.is_pending:
            raise CaseError(_("该事项已被他人处理,请刷新页面。"))
        now = timezone.now()
        if entry.kind == CounterEntry.Kind.ISSUE_UKEY:
            assert entry.operator is not None and entry.expires_on is not None
            _check_issuable(case, entry.operator, entry.serial, entry.replaces, entry)
        _set_status(entry, CounterEntry.Status.CONFIRMED, checker=user, checked_at=now)
        data = _entry_data(entry)
        if entry.kind == CounterEntry.Kind.ISSUE_UKEY:
            if entry.replaces is not None:
                old = entry.replaces
                old.status, old.ended_at = UKey.Status.REPLACED, now
                old.save(update_fields=["status", "ended_at"])
            assert entry.operator is not None and entry.expires_on is not None
            UKey.objects.create(
                case=case,
                operator=entry.operator,
                serial=entry.serial,
                holder=entry.holder,
                expires_on=entry.expires_on,
                issued_entry=entry,
                replaces=entry.replaces,
                issued_at=now,
            )
            data["serial"] = entry.serial
        elif entry.kind == CounterEntry.Kind.CERT_ACTIVATION:
            assert entry.ukey_id is not None
            ukey = UKey.objects.select_for_update().get(pk=entry.ukey_id)
            if ukey.status != UKey.Status.DOWNLOADED:
                raise CaseError(_("该UKey当前不能激活"))
            ukey.status, ukey.activated_at = UKey.Status.ACTIVATED, now
            ukey.save(update_fields=["status", "activated_at"])
            data["serial"] = ukey.serial
        events.counter_entry_confirmed(case=case, actor=user, entry=data)
        notifications.entry_confirmed(case=case, entry=entry, checker=user)
    return entry


def entry_cancel(
    *, entry: CounterEntry, user: User, reason: str = "", expected_version: int | None = None
) -> CounterEntry:
    """The maker withdraws an entry no checker has confirmed yet (取消录入信息)."""
    case = entry.case
    _require(case, user, Role.COUNTER_MAKER)
    if not answers_for(entry, user):
        raise CaseError(_("只有录入人可以取消该事项"))
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        case = w.case
        entry = CounterEntry.objects.select_related("operator", "ukey", "replaces").get(pk=entry.pk)
        if not entry.is_pending:
            raise CaseError(_("已复核或已取消的事项不能取消"))
        _set_status(entry, CounterEntry.Status.CANCELLED, cancelled_at=timezone.now())
        events.counter_entry_cancelled(case=case, actor=user, entry=_entry_data(entry), reason=reason.strip())
        notifications.entry_cancelled(case=case, entry=entry)
    return entry


# --- the UKey register: lifecycle -------------------------------------------------------------


def _ukey_change(
    case: OnboardingCase,
    ukey: UKey,
    user: User,
    *,
    name: str,
    allowed_from: tuple[str, ...],
    reason: str = "",
    roles: tuple[str, ...],
) -> tuple[OnboardingCase, UKey]:
    _require(case, user, *roles)
    ukey = UKey.objects.select_for_update().select_related("operator").get(pk=ukey.pk)
    if ukey.status not in allowed_from:
        raise CaseError(
            _("UKey %(s)s 当前状态(%(st)s)不能办理此业务") % {"s": ukey.serial, "st": ukey.get_status_display()}  # type: ignore[attr-defined]
        )
    return case, ukey


COUNTER_STAFF = (Role.COUNTER_MAKER, Role.COUNTER_CHECKER)


def ukey_download_record(*, ukey: UKey, user: User, expected_version: int | None = None) -> UKey:
    """The customer downloaded the certificate into the K宝 with the password envelope."""
    with case_write(case=ukey.case, user=user, seen_version=expected_version) as w:
        case, ukey = _ukey_change(
            w.case,
            ukey,
            user,
            name="ukey_downloaded",
            allowed_from=(UKey.Status.ISSUED,),
            roles=(*COUNTER_STAFF, Role.ENTERPRISE_USER),
        )
        ukey.status, ukey.downloaded_at = UKey.Status.DOWNLOADED, timezone.now()
        ukey.save(update_fields=["status", "downloaded_at"])
        events.ukey_downloaded(case=case, actor=user, ukey_id=ukey.pk, serial=ukey.serial)
    return ukey


def ukey_loss_report(
    *, ukey: UKey, user: User, reason: str = "", expected_version: int | None = None, by_customer: bool = False
) -> UKey:
    """挂失: the key is frozen until it is found (解挂) or replaced (补办). With `by_customer`
    (a live link's loss request, links.services) the company's own users may report it too, at
    any hour: blocking a key never waits for the bank."""
    roles = (*COUNTER_STAFF, Role.ENTERPRISE_USER) if by_customer else COUNTER_STAFF
    with case_write(case=ukey.case, user=user, seen_version=expected_version) as w:
        case, ukey = _ukey_change(
            w.case,
            ukey,
            user,
            name="ukey_lost",
            allowed_from=(UKey.Status.ISSUED, UKey.Status.DOWNLOADED, UKey.Status.ACTIVATED),
            roles=roles,
        )
        ukey.status_before_loss, ukey.status = ukey.status, UKey.Status.LOST
        ukey.save(update_fields=["status", "status_before_loss"])
        events.ukey_lost(case=case, actor=user, ukey_id=ukey.pk, serial=ukey.serial, reason=reason.strip())
    return ukey


def ukey_loss_release(*, ukey: UKey, user: User, reason: str = "", expected_version: int | None = None) -> UKey:
    """解挂: the key was found; it goes back to the status it had."""
    with case_write(case=ukey.case, user=user, seen_version=expected_version) as w:
        case, ukey = _ukey_change(
            w.case, ukey, user, name="ukey_released", allowed_from=(UKey.Status.LOST,), roles=COUNTER_STAFF
        )
        ukey.status, ukey.status_before_loss = ukey.status_before_loss or UKey.Status.ISSUED, ""
        ukey.save(update_fields=["status", "status_before_loss"])
        events.ukey_released(case=case, actor=user, ukey_id=ukey.pk, serial=ukey.serial, reason=reason.strip())
    return ukey


def ukey_revoke(*, ukey: UKey, user: User, reason: str, expected_version: int | None = None) -> UKey:
    """注销: the certificate ends for good (operator left, key broken)."""
    reason = reason.strip()
    if not reason:
        raise CaseError(_("注销UKey须填写原因"))
    with case_write(case=ukey.case, user=user, seen_version=expected_version) as w:
        case, ukey = _ukey_change(
            w.case,
            ukey,
            user,
            name="ukey_revoked",
            allowed_from=(UKey.Status.ISSUED, UKey.Status.DOWNLOADED, UKey.Status.ACTIVATED, UKey.Status.LOST),
            roles=COUNTER_STAFF,
        )
        if ukey.replacement_entries.filter(status=CounterEntry.Status.PENDING).exists():
            raise CaseError(_("该UKey有待复核的补办,请先处理"))
        ukey.status, ukey.ended_at = UKey.Status.REVOKED, timezone.now()
        ukey.save(update_fields=["status", "ended_at"])
        events.ukey_revoked(case=case, actor=user, ukey_id=ukey.pk, serial=ukey.serial, reason=reason)
    return ukey


# --- one visit: everything at the counter in one form, one check for all of it (issue 25) --------


def _named(prefix: str, exc: CaseError) -> CaseError:
    return CaseError(f"{prefix}:{exc.message}", exc.problems)


def counter_visit_make(
    *,
    case: OnboardingCase,
    user: User,
    identity: dict[str, str] | None = None,
    issuances: Sequence[tuple[Operator, str, dt.date | None]] = (),
    expected_version: int | None = None,
) -> list[CounterEntry]:
    """The maker records one visit to the counter: the identity check of the person who came and
    a UKey for each operator named, in one form. Each is its own `CounterEntry` (its own event,
    its own check by the checker), made through the single-entry services; all or nothing: one
    refusal, named with its operator, leaves no entry."""
    if identity is None and not issuances:
        raise CaseError(_("请填写到柜人员的身份核验或至少一个操作员的K宝编号"))
    entries: list[CounterEntry] = []
    with transaction.atomic():
        seen = expected_version
        if identity is not None:
            entries.append(identity_check_make(case=case, user=user, expected_version=seen, **identity))
            seen = case.version if seen is not None else None
        for operator, serial, expires_on in issuances:
            try:
                entry = ukey_issuance_make(
                    case=case, user=user, operator=operator, serial=serial, expires_on=expires_on, expected_version=seen
                )
            except CaseError as exc:
                raise _named(_("操作员 %(n)s") % {"n": operator.name}, exc) from None
            entries.append(entry)
            seen = case.version if seen is not None else None
    return entries


def activations_make(
    *, case: OnboardingCase, user: User, ukeys: Sequence[UKey], expected_version: int | None = None
) -> list[CounterEntry]:
    """The customer downloaded the certificates and asks for activation at the counter: for each
    key, the download is recorded if it was not yet, then its activation entry is made, waiting
    for the checker. All or nothing."""
    if not ukeys:
        raise CaseError(_("请勾选要激活的UKey"))
    entries: list[CounterEntry] = []
    with transaction.atomic():
        seen = expected_version
        for ukey in ukeys:
            try:
                if ukey.status == UKey.Status.ISSUED:
                    ukey_download_record(ukey=ukey, user=user, expected_version=seen)
                    seen = ukey.case.version if seen is not None else None
                    case.version = ukey.case.version
                entries.append(cert_activation_make(case=case, user=user, ukey=ukey, expected_version=seen))
            except CaseError as exc:
                raise _named(f"UKey {ukey.serial}", exc) from None
            seen = case.version if seen is not None else None
    return entries


def pending_by_maker(case: OnboardingCase, user: User) -> list[tuple[Any, list[CounterEntry]]]:
    """The case's pending entries grouped by their maker, leaving out the reader's own."""
    groups: dict[int, tuple[Any, list[CounterEntry]]] = {}
    for entry in (
        case.counter_entries.filter(status=CounterEntry.Status.PENDING)
        .exclude(maker=user)
        .select_related("maker")
        .order_by("made_at", "pk")
    ):
        groups.setdefault(entry.maker_id, (entry.maker, []))[1].append(entry)
    return list(groups.values())


def entries_confirm_all(
    *, case: OnboardingCase, user: User, maker: User, expected_version: int | None = None
) -> list[CounterEntry]:
    """The checker confirms every pending entry `maker` made on the case in one action; each is
    confirmed (and recorded) by itself, in the order it was made; all or nothing. Dual control
    holds: one's own entries are refused."""
    _require(case, user, Role.COUNTER_CHECKER)
    if maker.pk == user.pk:
        raise CaseError(_("不能复核自己录入的事项"))
    entries = list(
        case.counter_entries.filter(status=CounterEntry.Status.PENDING, maker=maker).order_by("made_at", "pk")
    )
    if not entries:
        raise CaseError(_("没有待复核的事项"))
    confirmed = []
    with transaction.atomic():
        seen = expected_version
        for entry in entries:
            entry.case = case
            confirmed.append(entry_confirm(entry=entry, user=user, expected_version=seen))
            seen = case.version if seen is not None else None
    return confirmed
