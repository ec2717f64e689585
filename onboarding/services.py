"""Writes. Every change of a case goes through a function here; nothing else assigns `state`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import TransitionNotAllowed

from branches.roles import Role, has_role
from branches.scope import branch_in_subtree
from casetypes import declaration
from casetypes.declaration import Feature, StateSet
from companies.models import CompanyVersion, Enterprise, SettlementAccount
from companies.services import company_diff, company_version_latest, company_version_record
from workcalendar import workdays

from . import events, notifications, rules
from .models import (
    CaseEvent,
    GatewayObservation,
    ModuleTestResult,
    OnboardingCase,
    ProductionConfig,
    StageVisit,
    TestPackage,
    split_accounts,
)
from .states import CUSTOMER, TEST_CASES, Party
from .workflow import CASE_FIELDS_CHANGED

if TYPE_CHECKING:
    from accounts.models import User


class CaseError(Exception):
    """The one refusal: a rule refused the action; the message is for the person who tried it."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class CaseConflict(CaseError):
    """Someone else changed the case since the page was loaded; `current` is the case as it is now."""

    def __init__(self, current: OnboardingCase | None = None) -> None:
        super().__init__(_("案件已被他人更新:页面显示的是打开时的内容,请核对当前内容后重试。"))
        self.current = current


EDITABLE_STATES = StateSet(lambda: declaration.states_with(Feature.COMPANY_FOLLOWS))


# --- the one door ---------------------------------------------------------------------------------


@dataclass
class CaseWrite:
    """A change in progress: the locked case, who makes it, when, and the case fields it changes."""

    case: OnboardingCase
    user: User
    now: dt.datetime
    fields: set[str] = field(default_factory=set)
    nothing_to_do: bool = False

    def changed(self, *names: str) -> None:
        self.fields.update(names)

    def unchanged(self) -> None:
        """The caller found nothing to change (e.g. a form rendered again from the same data)."""
        self.nothing_to_do = True


@contextmanager
def case_write(*, case: OnboardingCase, user: User, seen_version: int | None) -> Iterator[CaseWrite]:
    """The one door for every change of a case.

    Locks the case row (PostgreSQL; SQLite serialises writers), refuses a change made from a
    page older than the case (`seen_version`: the version the form showed; None only for
    appends that cannot overwrite anything, such as a message or a new document version),
    lets the caller change what it must and record exactly one event (`onboarding.events`),
    then saves the fields the caller named and bumps the version in one conditional UPDATE.
    The conditional UPDATE is the only concurrency mechanism: of two people acting at once,
    exactly one succeeds and the other gets `CaseConflict` with the case as it now is.
    """
    with transaction.atomic():
        locked = (
            OnboardingCase.objects.select_for_update(of=("self",))
            .select_related("enterprise", "branch", "current_visit")
            .get(pk=case.pk)
        )
        if seen_version is not None and locked.version != seen_version:
            raise CaseConflict(current=locked)
        write = CaseWrite(case=locked, user=user, now=timezone.now())
        collected: list[CaseEvent] = []
        token = events._collector.set(collected)
        try:
            yield write
        finally:
            events._collector.reset(token)
        if write.nothing_to_do and not collected and not write.fields:
            return
        if len(collected) != 1:
            raise RuntimeError(f"a change of a case records exactly one event, not {len(collected)}")
        values = {name: getattr(locked, name) for name in write.fields}
        updated = OnboardingCase.objects.filter(pk=locked.pk, version=locked.version).update(
            **values, updated_at=write.now, version=F("version") + 1
        )
        if not updated:
            raise CaseConflict(current=OnboardingCase.objects.get(pk=locked.pk))
        locked.version += 1
        locked.updated_at = write.now
        case.version, case.updated_at = locked.version, locked.updated_at


@dataclass
class TransitionOption:
    name: str
    label: str
    style: str
    reason_required: bool
    problems: list[str] = field(default_factory=list)
    rare: bool = False  # withdraw, reject, suspend: kept apart on the page, confirmed before posting
    # A return: the documents of the stage it returns to that the returner may mark to redo.
    redo: tuple[str, ...] = ()
    # Taken through the form of the case page's panel at this anchor, not a button of its own.
    panel: str = ""

    @property
    def allowed(self) -> bool:
        return not self.problems


def is_return(case: OnboardingCase, source: str, target: str) -> bool:
    """A transition back to an earlier stage of the case's type (退回补件, back to the test package)."""
    order = [s.code for s in declaration.case_type_of(case).stages]
    return source in order and target in order and order.index(target) < order.index(source)


def redo_choices(case: OnboardingCase, source: str, target: Any) -> tuple[str, ...]:
    """The documents a return from `source` to `target` may mark to redo (需补正): those the
    target stage collects from this case."""
    if not isinstance(target, str) or not is_return(case, source, target):
        return ()
    stage = declaration.stage(target)
    if stage is None:
        return ()
    return tuple(d.kind for d in stage.documents if d.required and (d.only_if is None or d.only_if(case)))


def _transitions(case: OnboardingCase) -> list[Any]:
    return list(case.get_all_state_transitions())  # type: ignore[attr-defined]


def case_transition_options(*, case: OnboardingCase, user: User) -> list[TransitionOption]:
    """The transitions this user may make from the case's state, with what blocks each."""
    options = []
    for t in _transitions(case):
        if t.source != case.state:
            continue
        if t.permission.refusal(case, user) is not None:
            continue
        if any(isinstance(cond, rules.Route) and not cond(case) for cond in t.conditions):
            continue  # not this case's way forward
        problems = [p for cond in t.conditions for p in cond.problems(case)]
        options.append(
            TransitionOption(
                name=t.name,
                label=str(t.custom.get("label", t.name)),
                style=t.custom.get("style", "secondary"),
                reason_required=bool(t.custom.get("reason_required")),
                problems=problems,
                rare=bool(t.custom.get("rare")),
                redo=redo_choices(case, t.source, t.target),
                panel=str(t.custom.get("panel", "")),
            )
        )
    return options


def withdrawal_for(*, case: OnboardingCase, user: User) -> TransitionOption | None:
    """The withdrawal `user` may take from the case's state, as the case's own type declares it
    (a transition with `step(withdraws=True)` whose source is the state and whose permission
    lets `user` take it), or None: the onboarding's 撤回申请, a termination's 撤回注销申请; a
    request type without one offers nothing."""
    case_type = declaration.case_type_of(case)
    for t in declaration.transitions(case_type):
        if t.source != case.state or not t.custom.get("withdraws"):
            continue
        if t.permission.refusal(case, user) is not None:
            continue
        return TransitionOption(
            name=t.name,
            label=str(t.custom.get("label", t.name)),
            style=t.custom.get("style", "secondary"),
            reason_required=bool(t.custom.get("reason_required")),
            problems=[p for cond in t.conditions for p in cond.problems(case)],
            rare=bool(t.custom.get("rare")),
        )
    return None


def withdrawal_refusal(*, case: OnboardingCase, user: User) -> str:
    """Why `user` may not withdraw the case now, in words: the reason the type's withdrawal from
    this state gives (a request the bank opened, not the company), or that there is none here."""
    case_type = declaration.case_type_of(case)
    for t in declaration.transitions(case_type):
        if t.source == case.state and t.custom.get("withdraws"):
            refused = t.permission.refusal(case, user)
            if refused:
                return str(refused)
    return _("此申请在当前阶段不能由贵司撤回")


def transition_is_rare(name: str) -> bool:
    """A rare or destructive transition (withdraw, reject, suspend): posted only when confirmed."""
    return any(t.name == name and t.custom.get("rare") for t in _transitions(OnboardingCase()))


def stage_work_left(case: OnboardingCase) -> list[str]:
    """What the stage still needs before it can be left, whoever does it: the guards of the
    transitions that move the case on (neither rare nor a return), however the reader may act.
    Nothing, if one of them may already be taken (e.g. the endorsement, then the approval)."""
    per_transition = [
        [p for cond in t.conditions for p in cond.problems(case)]
        for t in _transitions(case)
        if t.source == case.state
        and not t.custom.get("rare")
        and t.custom.get("style") != "warning"
        and not t.custom.get("panel")  # its panel says what it waits for
    ]
    if not per_transition or any(not problems for problems in per_transition):
        return []
    left: list[str] = []
    for problems in per_transition:
        left.extend(p for p in problems if p not in left)
    return left


def transition_done_message(name: str) -> str:
    """What to tell the person who made transition `name`, in that transition's own words."""
    # Every declared case type's transitions (a request type's proxy has its own).
    for case_type in declaration.CASE_TYPES.values():
        for t in declaration.transitions(case_type):
            if t.name == name:
                return str(t.custom.get("done") or t.custom.get("label", name))
    return name


def _open_visit(case: OnboardingCase, stage: str, now: dt.datetime) -> StageVisit:
    declared = declaration.stage(stage)
    assert declared is not None, stage
    return StageVisit.objects.create(
        case=case,
        stage=stage,
        entered_at=now,
        due_at=workdays.due_at(stage, now),
        holder_party=declared.party,
        holder_role=declared.holder,
    )


def case_transition(
    *,
    case: OnboardingCase,
    user: User,
    name: str,
    reason: str = "",
    expected_version: int | None = None,
    redo: Sequence[str] = (),
) -> OnboardingCase:
    """Make transition `name` on `case` as `user`, through the door (`case_write`).

    The transition method (`onboarding.workflow`) runs on the locked row: django-fsm checks
    its guard once; its body makes the effects. A state other than the one the caller saw
    is a conflict even without a version. `redo`: on a return, the documents of the stage it
    returns to that must be supplied again (需补正), recorded in the event's data.
    """
    reason = reason.strip()
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        locked = w.case
        if locked.state != case.state:
            raise CaseConflict(current=locked)
        t = next((t for t in _transitions(locked) if t.name == name and t.source == locked.state), None)
        if t is None:
            raise CaseError(_("当前状态下不能执行此操作。"))
        refusal = t.permission.refusal(locked, user)
        if refusal:
            raise CaseError(refusal)
        if t.custom.get("reason_required") and not reason:
            raise CaseError(_("此操作须填写原因。"))
        redo = sorted(set(redo))
        if redo and not set(redo) <= set(redo_choices(locked, t.source, t.target)):
            raise CaseError(_("所选需补正的文件不属于退回后的阶段。"))
        source = locked.state
        try:
            getattr(locked, name)(by=user, now=w.now)
        except TransitionNotAllowed:
            problems = [p for cond in t.conditions for p in cond.problems(locked)]
            raise CaseError(_("条件未满足,不能流转。"), problems) from None
        w.changed(*CASE_FIELDS_CHANGED)
        event = events.transition_made(
            case=locked,
            actor=user,
            name=name,
            from_state=source,
            to_state=locked.state,
            reason=reason,
            data={**getattr(locked, "effect_data", {}), **({"redo": redo} if redo else {})},
        )
        notifications.queue_event_notice(event)
    return locked


def _require_staff(user: User, *roles: str) -> None:
    if not has_role(user, *roles):
        raise CaseError(_("您没有执行此操作的权限"))


def enterprise_save(
    *,
    user: User,
    data: dict[str, Any],
    accounts: list[dict[str, str]],
    enterprise: Enterprise | None = None,
    editing: OnboardingCase | None = None,
) -> Enterprise:
    """Create or update an enterprise and replace its settlement accounts.

    The saved data becomes the company's newest version (if anything changed); the company's
    draft and intake cases move to it, cases past intake keep the version they were approved on.
    `editing` is the case whose own write (already inside the door) saves this data: it records
    the move itself, in its one event.
    """
    from django.core.exceptions import ValidationError

    from companies.validators import validate_account_count

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
    with transaction.atomic():
        enterprise.save()
        # Accounts are registration data: the current set replaces the old one on the company;
        # the versions keep every earlier set.
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
        version = company_version_record(enterprise=enterprise, user=user)
        company_version_adopt(enterprise=enterprise, version=version, user=user, skip=editing)
    return enterprise


def _follows_company_q() -> Q:
    """Cases that pick up the company's newest data: drafts and intake (also while suspended)."""
    return Q(state__in=EDITABLE_STATES) | Q(
        state__in=declaration.paused_states(), state_before_suspend__in=EDITABLE_STATES
    )


def case_follows_company(case: OnboardingCase) -> bool:
    state = declaration.active_stage(case)
    return state in EDITABLE_STATES


def case_company_point(*, case: OnboardingCase, version: CompanyVersion, user: User | None) -> None:
    """Point `case` at the company's `version` (a draft or intake case following its company), through the door."""
    with case_write(case=case, user=user, seen_version=None) as w:  # type: ignore[arg-type]
        old = w.case.company_version
        w.case.company_version = version
        w.changed("company_version")
        events.company_version_adopted(
            case=w.case,
            actor=user if getattr(user, "pk", None) else None,
            data={
                "from_version": old.number if old is not None else None,
                "to_version": version.number,
                "diff": company_diff(old, version) if old is not None else {},
            },
        )
    case.company_version = version


def company_version_adopt(
    *, enterprise: Enterprise, version: CompanyVersion, user: User, skip: OnboardingCase | None = None
) -> list[int]:
    """Move the company's draft and intake cases to `version`; returns the ids of those moved."""
    moved = []
    cases = (
        OnboardingCase.objects.select_related("company_version")
        .filter(_follows_company_q(), enterprise=enterprise)
        .exclude(company_version=version)
        .order_by("pk")
    )
    if skip is not None:
        cases = cases.exclude(pk=skip.pk)
    for case in cases:
        case_company_point(case=case, version=version, user=user)
        moved.append(case.pk)
    return moved


def case_create(
    *,
    user: User,
    enterprise: Enterprise,
    modules: list[str],
    account_manager: User | None = None,
    fields: dict[str, Any] | None = None,
    case_type: str = "onboarding",
    sweep: str = "",
) -> OnboardingCase:
    """Open a case of `case_type` (a draft, for onboarding) for `enterprise` on its current data
    version; `fields` are the case's own (ERP system, connection notes, target date, the bank's
    assessment). `sweep`: the name of the system check opening it (a msgid, e.g. "证书到期检查")
    in `user`'s name: the case is still `user`'s, but its creating event is the system's."""
    starters = declaration.case_type(case_type).starters
    if not (has_role(user, Role.ACCOUNT_MANAGER, *starters) or user.enterprise_id == enterprise.pk):
        raise CaseError(_("您没有新建案件的权限"))
    if user.branch_id is not None and not branch_in_subtree(enterprise.branch, user):
        raise CaseError(_("该企业不在您的管辖范围内"))
    with transaction.atomic():
        now = timezone.now()
        declared = declaration.case_type(case_type)
        case = declared.model_class()(
            state=declared.initial.code,
            enterprise=enterprise,
            branch=enterprise.branch,
            account_manager=account_manager or (user if has_role(user, Role.ACCOUNT_MANAGER) else None),
            modules=modules,
            created_by=user,
            created_at=now,
            updated_at=now,
            reference=f"TMP-{uuid.uuid4().hex[:16]}",  # replaced once the row has its id
            company_version=company_version_record(enterprise=enterprise, user=user),
            **(fields or {}),
        )
        case.save()
        case.reference = f"ZL-{timezone.localdate(now).year}-{case.pk:06d}"
        case.current_visit = _open_visit(case, declared.initial.code, now)
        OnboardingCase.objects.filter(pk=case.pk).update(reference=case.reference, current_visit=case.current_visit)
        assert case.company_version is not None
        events.case_created(case=case, actor=user, company_version=case.company_version.number, sweep=sweep)
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
    user: User,
    enterprise_data: dict[str, Any],
    accounts: list[dict[str, str]],
    modules: list[str],
    fields: dict[str, Any],
    expected_version: int | None = None,
) -> OnboardingCase:
    """Edit company data and the assessment while the case is in draft or intake."""
    if rules.Allowed(Role.ACCOUNT_MANAGER, Role.ENTERPRISE_USER).refusal(case, user):
        raise CaseError(_("您没有修改此案件的权限。"))
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        locked = w.case
        if locked.state not in EDITABLE_STATES:
            raise CaseError(_("当前阶段不能修改企业资料。"))
        if user.enterprise_id is not None:
            # The customer fills in company data; the assessment is the bank's.
            fields = {k: v for k, v in fields.items() if k in ("erp_system", "connection_notes", "target_date")}
        fields = {**fields, "modules": modules}
        before = {k: str(getattr(locked, k)) for k in fields}
        enterprise_save(
            user=user, data=enterprise_data, accounts=accounts, enterprise=locked.enterprise, editing=locked
        )
        for key, value in fields.items():
            setattr(locked, key, value)
        w.changed(*fields)
        changed = {k: [before[k], str(getattr(locked, k))] for k in fields if before[k] != str(getattr(locked, k))}
        company: dict[str, Any] = {}
        latest = company_version_latest(locked.enterprise)
        if latest is not None and latest.pk != locked.company_version_id:
            old = locked.company_version
            company = {
                "from_version": old.number if old is not None else None,
                "to_version": latest.number,
                "diff": company_diff(old, latest) if old is not None else {},
            }
            locked.company_version = latest
            w.changed("company_version")
        events.case_edited(case=locked, actor=user, changed=changed, company=company)
    return locked


def test_package_record(
    *,
    case: OnboardingCase,
    user: User,
    test_endpoint: str = "",
    test_accounts: str = "",
    test_certificate_ref: str = "",
    doc_version: str = "",
    issued_to: str = "",
    expected_version: int | None = None,
) -> TestPackage:
    """Record (or correct) the test package while the case waits for it."""
    _require_staff(user, Role.TECH_REVIEWER)
    values = {
        "test_endpoint": test_endpoint.strip(),
        "test_accounts": test_accounts.strip(),
        "test_certificate_ref": test_certificate_ref.strip(),
        "doc_version": doc_version.strip(),
        "issued_to": issued_to.strip(),
    }
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        if not rules.in_scope(w.case, user) or w.case.state not in declaration.states_with(Feature.TEST_PACKAGE):
            raise CaseError(_("当前阶段不能登记测试包。"))
        package, _created = TestPackage.objects.update_or_create(
            case=w.case, defaults={**values, "recorded_by": user, "recorded_at": w.now}
        )
        events.test_package_recorded(case=w.case, actor=user, values=values)
    return package


def _joint_test_holder(case: OnboardingCase, *, party: str, role: str) -> None:
    visit = case.current_visit
    if visit is not None and visit.stage in declaration.states_with(Feature.JOINT_TESTS):
        StageVisit.objects.filter(pk=visit.pk).update(holder_party=party, holder_role=role)


def _check_test_case(case: OnboardingCase, module: str, test_case: str) -> None:
    if module not in case.modules:
        raise CaseError(_("该模块不在申请范围内。"))
    if test_case not in dict(TEST_CASES.get(module, ())):
        raise CaseError(_("该模块没有此测试用例。"))


@dataclass(frozen=True)
class TestOutcome:
    """One joint-test case's result as entered: module, test case, pass or fail, evidence, note."""

    module: str
    test_case: str
    passed: bool
    evidence: str = ""
    notes: str = ""
    # The test gateway's observation this outcome confirms (onboarding.test_gateway), if any.
    observation: GatewayObservation | None = None


def test_results_record(
    *, case: OnboardingCase, user: User, outcomes: list[TestOutcome], expected_version: int | None = None
) -> list[ModuleTestResult]:
    """Record the outcomes of one or many joint-test cases at once; the newest row per test case counts."""
    if not (has_role(user, Role.TECH_REVIEWER, Role.ENTERPRISE_USER) and rules.in_scope(case, user)):
        raise CaseError(_("您没有登记测试结果的权限。"))
    if not outcomes:
        raise CaseError(_("请至少填写一个测试用例的结果。"))
    cleaned = []
    for o in outcomes:
        o = TestOutcome(o.module, o.test_case, o.passed, o.evidence.strip(), o.notes.strip(), o.observation)
        _check_test_case(case, o.module, o.test_case)
        if o.passed and not o.evidence:
            raise CaseError(_("通过的测试用例须填写测试凭据。"))
        cleaned.append(o)
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        if w.case.state not in declaration.states_with(Feature.JOINT_TESTS):
            raise CaseError(_("仅在联调测试阶段登记测试结果。"))
        rows = ModuleTestResult.objects.bulk_create(
            [
                ModuleTestResult(
                    case=w.case,
                    module=o.module,
                    test_case=o.test_case,
                    passed=o.passed,
                    evidence=o.evidence,
                    notes=o.notes,
                    observation=o.observation,
                    recorded_by=user,
                    recorded_at=w.now,
                )
                for o in cleaned
            ]
        )
        event = events.test_results_recorded(
            case=w.case,
            actor=user,
            results=[
                {
                    "module": o.module,
                    "test_case": o.test_case,
                    "passed": o.passed,
                    "evidence": o.evidence,
                    "notes": o.notes,
                }
                for o in cleaned
            ],
        )
        if not rules.joint_tests_missing(w.case):
            # Every case has passed: the tech reviewer now holds the ball (accept or retest).
            _joint_test_holder(w.case, party=Party.BANK, role=Role.TECH_REVIEWER)
            notifications.holder_changed_notice(event)
    return rows


def test_result_record(
    *,
    case: OnboardingCase,
    user: User,
    module: str,
    test_case: str,
    passed: bool,
    evidence: str = "",
    notes: str = "",
    expected_version: int | None = None,
) -> ModuleTestResult:
    """Record the outcome of one joint-test case."""
    outcome = TestOutcome(module, test_case, passed, evidence, notes)
    return test_results_record(case=case, user=user, outcomes=[outcome], expected_version=expected_version)[0]


def test_retest_request(
    *, case: OnboardingCase, user: User, reason: str, items: list[tuple[str, str]], expected_version: int | None = None
) -> list[ModuleTestResult]:
    """The tech reviewer asks for test cases to be run again; the case stays in joint testing.

    A retest is a record, not a transition: the stage and its service level do not restart,
    the named test cases count as not passed until the customer records new results, and
    the reason is on the timeline for the customer to read. Sending the case back to the
    test-package stage (new endpoint, new certificate) is the `return_to_test_package`
    transition.
    """
    _require_staff(user, Role.TECH_REVIEWER)
    reason = reason.strip()
    if not reason:
        raise CaseError(_("要求重测须填写原因。"))
    if not items:
        raise CaseError(_("请选择需要重测的测试用例。"))
    for module, code in items:
        _check_test_case(case, module, code)
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        if not rules.in_scope(w.case, user) or w.case.state not in declaration.states_with(Feature.JOINT_TESTS):
            raise CaseError(_("仅在联调测试阶段可要求重测。"))
        rows = [
            ModuleTestResult.objects.create(
                case=w.case, module=module, test_case=code, passed=False, retest=True, notes=reason, recorded_by=user
            )
            for module, code in items
        ]
        event = events.retest_requested(case=w.case, actor=user, items=[f"{m}:{c}" for m, c in items], reason=reason)
        _joint_test_holder(w.case, party=Party.CUSTOMER, role=CUSTOMER)
        notifications.holder_changed_notice(event)
    return rows


def production_config_record(
    *,
    case: OnboardingCase,
    user: User,
    production_endpoint: str = "",
    certificate_serial: str = "",
    production_accounts: str = "",
    connection_type: str = ProductionConfig.Connection.INTERNET,
    front_end_processor: str = "",
    line_details: str = "",
    expected_version: int | None = None,
) -> ProductionConfig:
    """Issue the production configuration; refused, with every reason, if it reuses a test value."""
    _require_staff(user, Role.TECH_REVIEWER)
    values = {
        "production_endpoint": production_endpoint.strip(),
        "certificate_serial": certificate_serial.strip(),
        "production_accounts": "\n".join(split_accounts(production_accounts)),
        "connection_type": connection_type,
        "front_end_processor": front_end_processor.strip(),
        "line_details": line_details.strip(),
    }
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        if not rules.in_scope(w.case, user) or w.case.state not in declaration.states_with(Feature.PRODUCTION_CONFIG):
            raise CaseError(_("当前阶段不能下发生产配置。"))
        problems = ProductionConfig(case=w.case, recorded_by=user, **values).problems()
        if problems:
            raise CaseError(_("生产配置未通过检查:测试与生产须分离。"), problems)
        config, _created = ProductionConfig.objects.update_or_create(
            case=w.case, defaults={**values, "recorded_by": user, "recorded_at": w.now}
        )
        event = events.production_config_issued(case=w.case, actor=user, values=values)
        notifications.production_config_notice(event)
    return config


def customer_confirm_production(*, case: OnboardingCase, user: User, expected_version: int | None = None) -> None:
    """The customer confirms the small real transactions and the reconciliation."""
    if user.enterprise_id != case.enterprise_id or not has_role(user, Role.ENTERPRISE_USER):
        raise CaseError(_("仅申请企业可确认生产验证。"))
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        locked = w.case
        if locked.state not in declaration.states_with(Feature.CUSTOMER_CONFIRMATION):
            raise CaseError(_("当前不在生产验证阶段。"))
        locked.customer_confirmed_at = w.now
        locked.customer_confirmed_by = user
        w.changed("customer_confirmed_at", "customer_confirmed_by")
        visit = locked.current_visit
        if visit is not None:
            # The customer has done its part; the account manager now holds the ball.
            StageVisit.objects.filter(pk=visit.pk).update(holder_party=Party.BANK, holder_role=Role.ACCOUNT_MANAGER)
        notifications.holder_changed_notice(events.customer_confirmed(case=locked, actor=user))
    case.customer_confirmed_at, case.customer_confirmed_by = locked.customer_confirmed_at, user


def decimal_or_none(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(value)


def case_intake(
    *,
    user: User,
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
                raise CaseError(_("您没有新建企业的权限"))
            enterprise = enterprise_save(user=user, data={**enterprise_data, "branch": user.branch}, accounts=accounts)
        elif not rules.in_scope_branch(enterprise.branch, user):
            raise CaseError(_("该企业已在其他机构登记,请联系其开户机构"))
        else:
            enterprise = enterprise_save(user=user, data=enterprise_data, accounts=accounts, enterprise=enterprise)
        return case_create(user=user, enterprise=enterprise, modules=modules, fields=fields)
