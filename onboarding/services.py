"""Writes. Every change of a case goes through a function here; nothing else assigns `state`."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition

from branches.roles import Role, has_role
from workcalendar import workdays

from . import notifications, rules
from .models import (
    Approval,
    CaseEvent,
    Enterprise,
    ModuleTestResult,
    OnboardingCase,
    ProductionConfig,
    SettlementAccount,
    StageVisit,
    TestPackage,
    split_accounts,
)
from .states import CUSTOMER, STAGE_HOLDER, TEST_CASES, State


class CaseError(Exception):
    """A rule refused the action; the message is for the person who tried it."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class CaseConflict(CaseError):
    """Someone else changed the case since the page was loaded."""


EDITABLE_STATES = (State.DRAFT, State.BRANCH_INTAKE)


@dataclass
class TransitionOption:
    name: str
    label: str
    style: str
    reason_required: bool
    problems: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.problems


def _transitions(case: OnboardingCase) -> list[Any]:
    return list(case.get_all_state_transitions())  # type: ignore[attr-defined]


def case_transition_options(*, case: OnboardingCase, user: Any) -> list[TransitionOption]:
    """The transitions this user may make from the case's state, with what blocks each."""
    options = []
    for t in _transitions(case):
        if t.source != case.state:
            continue
        if t.permission.refusal(case, user) is not None:
            continue
        problems = [p for cond in t.conditions for p in cond.problems(case)]
        options.append(
            TransitionOption(
                name=t.name,
                label=str(t.custom.get("label", t.name)),
                style=t.custom.get("style", "secondary"),
                reason_required=bool(t.custom.get("reason_required")),
                problems=problems,
            )
        )
    return options


def _open_visit(case: OnboardingCase, stage: str, now: dt.datetime) -> StageVisit:
    party, role = STAGE_HOLDER[stage]
    return StageVisit.objects.create(
        case=case,
        stage=stage,
        entered_at=now,
        due_at=workdays.due_at(stage, now),
        holder_party=party,
        holder_role=role,
    )


def _move_visits(case: OnboardingCase, source: str, target: str, name: str, now: dt.datetime) -> None:
    visit = case.current_visit
    if name == "suspend":
        assert visit is not None
        visit.paused_at = now
        visit.save(update_fields=["paused_at"])
        return
    if name == "resume":
        assert visit is not None and visit.paused_at is not None
        # Suspended time does not count against the stage's service level: the due time
        # moves by the *working* time that passed (a wall-clock shift would land a pause
        # over a weekend or holiday on the wrong day).
        paused = now - visit.paused_at
        visit.paused_seconds += int(paused.total_seconds())
        if visit.due_at is not None:
            visit.due_at = workdays.extend_for_pause(visit.due_at, visit.paused_at, now)
        visit.paused_at = None
        visit.save(update_fields=["paused_at", "paused_seconds", "due_at"])
        return
    if name == "endorse":
        assert visit is not None
        visit.holder_role = Role.HEAD_OFFICE_APPROVER
        visit.save(update_fields=["holder_role"])
        return
    if visit is not None:
        visit.left_at = now
        visit.save(update_fields=["left_at"])
    case.current_visit = _open_visit(case, target, now) if target in STAGE_HOLDER else None


def case_transition(
    *,
    case: OnboardingCase,
    user: Any,
    name: str,
    reason: str = "",
    expected_version: int | None = None,
) -> OnboardingCase:
    """Make transition `name` on `case` as `user`.

    Locks the case row, re-checks permission and guard on the locked row, saves with an
    optimistic version check (SQLite has no row locks), writes the event and queues the
    notification after commit. Of two people acting at once exactly one succeeds.
    """
    reason = reason.strip()
    try:
        with transaction.atomic():
            locked = (
                OnboardingCase.objects.select_for_update(of=("self",))
                .select_related("enterprise", "branch", "current_visit")
                .get(pk=case.pk)
            )
            # The caller acted on what it had loaded: a different version or state since then
            # means someone else got there first.
            stale_version = expected_version is not None and locked.version != expected_version
            if stale_version or locked.state != case.state:
                raise CaseConflict(_("案件已被他人更新,请刷新页面后重试 / The case changed, please reload."))
            t = next((t for t in _transitions(locked) if t.name == name and t.source == locked.state), None)
            if t is None:
                raise CaseError(_("当前状态下不能执行此操作 / This action is not possible in the current state."))
            refusal = t.permission.refusal(locked, user)
            if refusal:
                raise CaseError(refusal)
            problems = [p for cond in t.conditions for p in cond.problems(locked)]
            if problems:
                raise CaseError(_("条件未满足,不能流转 / The stage's requirements are not met."), problems)
            if t.custom.get("reason_required") and not reason:
                raise CaseError(_("此操作须填写原因 / A reason is required for this action."))

            source = locked.state
            getattr(locked, name)()
            now = timezone.now()
            _move_visits(locked, source, locked.state, name, now)
            if name == "submit_for_approval":
                locked.submitted_by = user
            if name in ("endorse", "approve"):
                Approval.objects.create(
                    case=locked,
                    visit=case_visit_for_approval(locked, name),
                    level=Approval.Level.BRANCH if name == "endorse" else Approval.Level.HEAD_OFFICE,
                    decided_by=user,
                    decided_at=now,
                )
            old_version = locked.version
            locked.updated_at = now
            updated = OnboardingCase.objects.filter(pk=locked.pk, version=old_version).update(
                state=locked.state,
                state_before_suspend=locked.state_before_suspend,
                current_visit=locked.current_visit,
                submitted_by=locked.submitted_by,
                updated_at=now,
                version=F("version") + 1,
            )
            if not updated:
                raise CaseConflict(_("案件已被他人更新,请刷新页面后重试 / The case changed, please reload."))
            locked.version = old_version + 1
            event = CaseEvent.objects.create(
                case=locked,
                kind=CaseEvent.Kind.TRANSITION,
                name=name,
                actor=user,
                from_state=source,
                to_state=locked.state,
                reason=reason,
                created_at=now,
            )
            notifications.queue_event_notice(event)
    except ConcurrentTransition:
        raise CaseConflict(_("案件已被他人更新,请刷新页面后重试 / The case changed, please reload.")) from None
    return locked


def case_visit_for_approval(case: OnboardingCase, name: str) -> StageVisit:
    """Approvals belong to the approval-stage visit, which `approve` has just closed."""
    if name == "endorse":
        assert case.current_visit is not None
        return case.current_visit
    return case.visits.filter(stage=State.HEAD_OFFICE_APPROVAL).order_by("-entered_at", "-pk").first()  # type: ignore[return-value]


# --- creating and editing ---------------------------------------------------------------------


def _record(case: OnboardingCase, user: Any, kind: str, name: str, data: dict[str, Any] | None = None) -> CaseEvent:
    return CaseEvent.objects.create(case=case, kind=kind, name=name, actor=user, data=data or {})


def _require_staff(user: Any, *roles: str) -> None:
    if not has_role(user, *roles):
        raise CaseError(_("您没有执行此操作的权限 / You are not allowed to do this."))


def enterprise_save(
    *,
    user: Any,
    data: dict[str, Any],
    accounts: list[dict[str, str]],
    enterprise: Enterprise | None = None,
) -> Enterprise:
    """Create or update an enterprise and replace its settlement accounts."""
    from django.core.exceptions import ValidationError

    from .validators import validate_account_count

    try:
        validate_account_count(len(accounts))
    except ValidationError as exc:
        raise CaseError(exc.messages[0]) from None
    enterprise = enterprise or Enterprise()
    for key, value in data.items():
        setattr(enterprise, key, value)
    enterprise.uscc = enterprise.uscc.strip().upper()
    enterprise.legal_rep_id_number = enterprise.legal_rep_id_number.strip().upper()
    enterprise.handler_id_number = enterprise.handler_id_number.strip().upper()
    enterprise.save()
    # Accounts are registration data, not vouchers: the current set replaces the old one,
    # and the case event below keeps what it was.
    kept = []
    for row in accounts:
        acc, _created = SettlementAccount.objects.update_or_create(
            enterprise=enterprise,
            account_number=row["account_number"].strip(),
            defaults={
                "account_name": row["account_name"].strip(),
                "opening_branch": row.get("opening_branch", "").strip(),
            },
        )
        kept.append(acc.pk)
    SettlementAccount.objects.filter(enterprise=enterprise).exclude(pk__in=kept).delete()
    return enterprise


def case_create(
    *,
    user: Any,
    enterprise: Enterprise,
    modules: list[str],
    account_manager: Any = None,
    **fields: Any,
) -> OnboardingCase:
    if not (has_role(user, Role.ACCOUNT_MANAGER) or user.enterprise_id == enterprise.pk):
        raise CaseError(_("您没有新建案件的权限 / You may not open a case."))
    if user.branch_id is not None and not enterprise.branch.path.startswith(user.branch.path):
        raise CaseError(_("该企业不在您的管辖范围内 / This company is outside your branch."))
    with transaction.atomic():
        now = timezone.now()
        case = OnboardingCase(
            enterprise=enterprise,
            branch=enterprise.branch,
            account_manager=account_manager or (user if has_role(user, Role.ACCOUNT_MANAGER) else None),
            modules=modules,
            created_by=user,
            created_at=now,
            updated_at=now,
            reference=f"TMP-{uuid.uuid4().hex[:16]}",  # replaced once the row has its id
            **fields,
        )
        case.save()
        case.reference = f"ZL-{timezone.localdate(now).year}-{case.pk:06d}"
        case.current_visit = _open_visit(case, State.DRAFT, now)
        OnboardingCase.objects.filter(pk=case.pk).update(reference=case.reference, current_visit=case.current_visit)
        _record(case, user, CaseEvent.Kind.CREATED, "create")
    return case


ASSESSMENT_FIELDS = (
    "fee_amount",
    "fee_note",
    "risk_level",
    "risk_note",
    "target_date",
    "erp_system",
    "connection_notes",
)


def case_update(
    *,
    case: OnboardingCase,
    user: Any,
    enterprise_data: dict[str, Any],
    accounts: list[dict[str, str]],
    modules: list[str],
    fields: dict[str, Any],
    expected_version: int | None = None,
) -> OnboardingCase:
    """Edit company data and the assessment while the case is in draft or intake."""
    if rules.Allowed(Role.ACCOUNT_MANAGER, Role.ENTERPRISE_USER).refusal(case, user):
        raise CaseError(_("您没有修改此案件的权限 / You may not edit this case."))
    with transaction.atomic():
        locked = OnboardingCase.objects.select_for_update(of=("self",)).select_related("enterprise").get(pk=case.pk)
        if expected_version is not None and locked.version != expected_version:
            raise CaseConflict(_("案件已被他人更新,请刷新页面后重试 / The case changed, please reload."))
        if locked.state not in EDITABLE_STATES:
            raise CaseError(_("当前阶段不能修改企业资料 / Company data can no longer be changed at this stage."))
        if user.enterprise_id is not None:
            # The customer fills in company data; the assessment is the bank's.
            fields = {k: v for k, v in fields.items() if k in ("erp_system", "connection_notes", "target_date")}
        before = {k: str(getattr(locked, k)) for k in fields}
        enterprise_save(user=user, data=enterprise_data, accounts=accounts, enterprise=locked.enterprise)
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.modules = modules
        locked.updated_at = timezone.now()
        locked.save(update_fields=[*fields.keys(), "modules", "updated_at"])
        changed = {k: [before[k], str(getattr(locked, k))] for k in fields if before[k] != str(getattr(locked, k))}
        _record(locked, user, CaseEvent.Kind.EDITED, "edit", {"changed": changed})
    return locked


def test_package_record(*, case: OnboardingCase, user: Any, **values: str) -> TestPackage:
    _require_staff(user, Role.TECH_REVIEWER)
    if not rules.in_scope(case, user) or case.state != State.TEST_PACKAGE_ISSUANCE:
        raise CaseError(_("当前阶段不能登记测试包 / The test package cannot be recorded now."))
    package, _created = TestPackage.objects.update_or_create(
        case=case, defaults={**values, "recorded_by": user, "recorded_at": timezone.now()}
    )
    _record(case, user, CaseEvent.Kind.RECORD, "test_package", values)
    return package


def _joint_test_holder(case: OnboardingCase, *, party: str, role: str) -> None:
    visit = case.current_visit
    if visit is not None and visit.stage == State.JOINT_TESTING:
        StageVisit.objects.filter(pk=visit.pk).update(holder_party=party, holder_role=role)


def _check_test_case(case: OnboardingCase, module: str, test_case: str) -> None:
    if module not in case.modules:
        raise CaseError(_("该模块不在申请范围内 / That module was not requested."))
    if test_case not in dict(TEST_CASES.get(module, ())):
        raise CaseError(_("该模块没有此测试用例 / That module has no such test case."))


def test_result_record(
    *,
    case: OnboardingCase,
    user: Any,
    module: str,
    test_case: str,
    passed: bool,
    evidence: str = "",
    notes: str = "",
) -> ModuleTestResult:
    """Record the outcome of one joint-test case; the newest row per test case counts."""
    if not (has_role(user, Role.TECH_REVIEWER, Role.ENTERPRISE_USER) and rules.in_scope(case, user)):
        raise CaseError(_("您没有登记测试结果的权限 / You may not record test results."))
    if case.state != State.JOINT_TESTING:
        raise CaseError(_("仅在联调测试阶段登记测试结果 / Test results are recorded during joint testing."))
    _check_test_case(case, module, test_case)
    evidence, notes = evidence.strip(), notes.strip()
    if passed and not evidence:
        raise CaseError(_("通过的测试用例须填写测试凭据 / A passed test case needs its evidence."))
    with transaction.atomic():
        result = ModuleTestResult.objects.create(
            case=case,
            module=module,
            test_case=test_case,
            passed=passed,
            evidence=evidence,
            notes=notes,
            recorded_by=user,
        )
        _record(
            case,
            user,
            CaseEvent.Kind.RECORD,
            "test_result",
            {"module": module, "test_case": test_case, "passed": passed, "evidence": evidence, "notes": notes},
        )
        if not rules.joint_tests_missing(case):
            # Every case has passed: the tech reviewer now holds the ball (accept or retest).
            _joint_test_holder(case, party="bank", role=Role.TECH_REVIEWER)
    return result


def test_retest_request(
    *, case: OnboardingCase, user: Any, reason: str, items: list[tuple[str, str]]
) -> list[ModuleTestResult]:
    """The tech reviewer asks for test cases to be run again; the case stays in joint testing.

    A retest is a record, not a transition: the stage and its service level do not restart,
    the named test cases count as not passed until the customer records new results, and
    the reason is on the timeline for the customer to read. Sending the case back to the
    test-package stage (new endpoint, new certificate) is the `return_to_test_package`
    transition.
    """
    _require_staff(user, Role.TECH_REVIEWER)
    if not rules.in_scope(case, user) or case.state != State.JOINT_TESTING:
        raise CaseError(_("仅在联调测试阶段可要求重测 / A retest can only be asked for during joint testing."))
    reason = reason.strip()
    if not reason:
        raise CaseError(_("要求重测须填写原因 / A retest needs a reason."))
    if not items:
        raise CaseError(_("请选择需要重测的测试用例 / Choose the test cases to run again."))
    for module, code in items:
        _check_test_case(case, module, code)
    with transaction.atomic():
        rows = [
            ModuleTestResult.objects.create(
                case=case, module=module, test_case=code, passed=False, retest=True, notes=reason, recorded_by=user
            )
            for module, code in items
        ]
        CaseEvent.objects.create(
            case=case,
            kind=CaseEvent.Kind.RECORD,
            name="retest_requested",
            actor=user,
            reason=reason,
            data={"items": [f"{m}:{c}" for m, c in items]},
        )
        _joint_test_holder(case, party="customer", role=CUSTOMER)
    return rows


PRODUCTION_FIELDS = (
    "production_endpoint",
    "certificate_serial",
    "production_accounts",
    "connection_type",
    "front_end_processor",
    "line_details",
)


def production_config_record(*, case: OnboardingCase, user: Any, **values: str) -> ProductionConfig:
    """Issue the production configuration; refused, with every reason, if it reuses a test value."""
    _require_staff(user, Role.TECH_REVIEWER)
    if not rules.in_scope(case, user) or case.state != State.UKEY_ISSUANCE:
        raise CaseError(_("当前阶段不能下发生产配置 / The production configuration cannot be issued now."))
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in PRODUCTION_FIELDS}
    values["production_accounts"] = "\n".join(split_accounts(values.get("production_accounts", "")))
    config = ProductionConfig(case=case, recorded_by=user, **values)
    problems = config.problems()
    if problems:
        raise CaseError(_("生产配置未通过检查,测试与生产须分离 / The production configuration was refused."), problems)
    with transaction.atomic():
        config, _created = ProductionConfig.objects.update_or_create(
            case=case, defaults={**values, "recorded_by": user, "recorded_at": timezone.now()}
        )
        _record(case, user, CaseEvent.Kind.RECORD, "production_config", values)
    return config


def customer_confirm_production(*, case: OnboardingCase, user: Any) -> None:
    if user.enterprise_id != case.enterprise_id or not has_role(user, Role.ENTERPRISE_USER):
        raise CaseError(_("仅申请企业可确认生产验证 / Only the customer can confirm production verification."))
    if case.state != State.PRODUCTION_VERIFICATION:
        raise CaseError(_("当前不在生产验证阶段 / The case is not in production verification."))
    with transaction.atomic():
        now = timezone.now()
        OnboardingCase.objects.filter(pk=case.pk).update(customer_confirmed_at=now, customer_confirmed_by=user)
        case.customer_confirmed_at = now
        case.customer_confirmed_by = user
        visit = case.current_visit
        if visit is not None:
            # The customer has done its part; the account manager now holds the ball.
            StageVisit.objects.filter(pk=visit.pk).update(holder_party="bank", holder_role=Role.ACCOUNT_MANAGER)
        _record(case, user, CaseEvent.Kind.RECORD, "customer_confirmed")


def decimal_or_none(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(value)


def case_intake(
    *,
    user: Any,
    enterprise_data: dict[str, Any],
    accounts: list[dict[str, str]],
    modules: list[str],
    fields: dict[str, Any],
) -> OnboardingCase:
    """Open a case from the intake form: the company is found by its credit code or created."""
    uscc = enterprise_data["uscc"].strip().upper()
    with transaction.atomic():
        enterprise = Enterprise.objects.select_related("branch").filter(uscc=uscc).first()
        if enterprise is None:
            if user.branch_id is None:
                raise CaseError(_("您没有新建企业的权限 / You may not register a company."))
            enterprise = enterprise_save(user=user, data={**enterprise_data, "branch": user.branch}, accounts=accounts)
        elif not rules.in_scope_branch(enterprise.branch, user):
            raise CaseError(
                _(
                    "该企业已在其他机构登记,请联系其开户机构 / This company is registered with another branch; contact that branch."
                )
            )
        else:
            enterprise = enterprise_save(user=user, data=enterprise_data, accounts=accounts, enterprise=enterprise)
        return case_create(user=user, enterprise=enterprise, modules=modules, **fields)
