"""Demo history: hundreds of cases over two years, so the cockpit and the forecast mean something.

Cases are written straight into enterprises, cases, stage visits and events (as the services
would have left them), not walked through the services: two years of history cannot be
replayed in real time. Branches differ (each sub-branch gets a speed and a rework
propensity), module sets change joint-testing time, and some cases are returned to intake,
retested, sent back for a new test package, suspended, rejected or withdrawn. Cases whose
timeline runs past now stay open in the stage they have reached.

`seed_history()` is called from `seed_demo` (one line in demo/seed.py) and is safe to run
again; `generate()` is also used by `bench/analytics.py` for 100,000 cases.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from branches.models import Branch, BranchLevel
from branches.roles import Role

from . import calendar as workcal
from .sources import (
    ACCOUNT_FIELDS,
    DATA_FIELDS,
    STAGE_HOLDER,
    CaseEvent,
    CompanyVersion,
    Enterprise,
    Module,
    OnboardingCase,
    SettlementAccount,
    StageVisit,
    State,
    resident_id_check_char,
    uscc_check_char,
)

DAY = workcal.DAY
REF_MARK = "-H"  # references ZL-<year>-H00001 mark generated history
MODULE_SETS = [
    [Module.ACCOUNT_QUERY, Module.RECONCILIATION],
    [Module.ACCOUNT_QUERY, Module.RECONCILIATION, Module.E_RECEIPT],
    [Module.ACCOUNT_QUERY, Module.PAYMENT_SINGLE, Module.RECONCILIATION],
    [Module.ACCOUNT_QUERY, Module.PAYMENT_SINGLE, Module.PAYMENT_BATCH, Module.RECONCILIATION, Module.E_RECEIPT],
    [Module.ACCOUNT_QUERY, Module.PAYROLL],
    [Module.ACCOUNT_QUERY, Module.CASH_POOLING, Module.RECONCILIATION],
]
NAMES = [
    "华信",
    "远航",
    "恒泰",
    "金桥",
    "瑞丰",
    "东方",
    "宏图",
    "鑫源",
    "嘉禾",
    "天成",
    "新锐",
    "中联",
    "海纳",
    "博远",
    "启明",
]
TRADES = ["贸易", "科技", "物流", "制造", "医药", "能源", "建设", "食品", "纺织", "电子"]
# Per sub-branch (in code order, cycling): how slow its own stages run and how often it reworks.
SPEED = [0.8, 1.0, 1.45, 1.15, 0.9, 1.3]
REWORK = [0.7, 1.0, 1.8, 1.2, 0.9, 1.5]


class WorkLine:
    """Working days as a line of seconds: moving N working seconds on is an index lookup."""

    def __init__(self, lo: dt.date, hi: dt.date) -> None:
        cal = workcal.calendar_for(lo, hi)
        self.days = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
        self.days = [d for d in self.days if cal.is_workday(d)]
        self.tz = timezone.get_current_timezone()

    def shift(self, t: dt.datetime, seconds: float) -> dt.datetime:
        local = t.astimezone(self.tz)
        i = bisect.bisect_left(self.days, local.date())
        into = local.hour * 3600 + local.minute * 60 + local.second
        if i >= len(self.days) or self.days[i] != local.date():
            into = 0  # not a working day: the clock starts at the next one
        pos = i * DAY + into + int(seconds)
        day = self.days[min(pos // DAY, len(self.days) - 1)]
        rest = pos % DAY
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz) + dt.timedelta(seconds=rest)


@dataclass
class People:
    managers: dict[int, Any]
    supervisors: dict[int, Any]
    approver: Any
    tech: Any
    checkers: dict[int, Any]


@dataclass
class Plan:
    """One generated case before insertion."""

    branch: Branch
    modules: list[str]
    created: dt.datetime
    visits: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    state: str = State.DRAFT
    state_before_suspend: str = ""
    confirmed_at: dt.datetime | None = None
    target: dt.date | None = None
    manager: Any = None


class _Stop(Exception):
    """The case's timeline has reached now."""


def _people(subs: list[Branch]) -> People:
    User = get_user_model()

    def first(role: str, **filters: Any) -> Any:
        return User.objects.filter(groups__name=role, is_active=True, **filters).order_by("pk").first()

    any_am = first(Role.ACCOUNT_MANAGER)
    return People(
        managers={b.pk: first(Role.ACCOUNT_MANAGER, branch=b) or any_am for b in subs},
        supervisors={
            b.pk: first(Role.BRANCH_SUPERVISOR, branch_id=b.parent_id) or first(Role.BRANCH_SUPERVISOR) for b in subs
        },
        approver=first(Role.HEAD_OFFICE_APPROVER),
        tech=first(Role.TECH_REVIEWER),
        checkers={b.pk: first(Role.COUNTER_CHECKER, branch=b) or first(Role.COUNTER_CHECKER) for b in subs},
    )


def plan_case(
    rng: random.Random,
    *,
    branch: Branch,
    profile: int,
    start: dt.datetime,
    now: dt.datetime,
    line: WorkLine,
    who: People,
) -> Plan:
    speed, rework = SPEED[profile % len(SPEED)], REWORK[profile % len(REWORK)]
    modules = [str(m) for m in rng.choice(MODULE_SETS)]
    p = Plan(
        branch=branch, modules=modules, created=start, target=(start + dt.timedelta(days=rng.randint(40, 90))).date()
    )
    am, sup, chk = who.managers[branch.pk], who.supervisors[branch.pk], who.checkers[branch.pk]
    p.manager = am
    clock = start

    def dur(median: float) -> float:
        return max(0.2, median * math.exp(rng.gauss(0, 0.45)))

    def open_visit(stage: str) -> dict[str, Any]:
        party, role = STAGE_HOLDER[stage]
        v = {"stage": stage, "entered_at": clock, "left_at": None, "holder_party": party, "holder_role": role}
        p.visits.append(v)
        p.state = stage
        return v

    def work(days: float) -> None:
        nonlocal clock
        nxt = line.shift(clock, days * DAY)
        if nxt > now:
            raise _Stop
        clock = nxt

    def event(
        name: str, source: str, target: str, actor: Any, kind: str = CaseEvent.Kind.TRANSITION, reason: str = ""
    ) -> None:
        p.events.append(
            {
                "kind": kind,
                "name": name,
                "from_state": source,
                "to_state": target,
                "actor": actor,
                "created_at": clock,
                "reason": reason,
            }
        )

    def leave(v: dict[str, Any], name: str, target: str, actor: Any, reason: str = "") -> None:
        v["left_at"] = clock
        event(name, v["stage"], target, actor, reason=reason)
        p.state = target

    try:
        d = open_visit(State.DRAFT)
        work(dur(1.0))
        leave(d, "submit", State.BRANCH_INTAKE, am)
        while True:
            v = open_visit(State.BRANCH_INTAKE)
            work(dur(3.0 * speed))
            if rng.random() < 0.02:
                leave(v, "withdraw", State.WITHDRAWN, am, "客户暂缓项目")
                return p
            leave(v, "submit_for_approval", State.HEAD_OFFICE_APPROVAL, am)
            v = open_visit(State.HEAD_OFFICE_APPROVAL)
            work(dur(1.2 * speed))
            if rng.random() < 0.12 * rework:
                leave(v, "return_to_intake", State.BRANCH_INTAKE, sup, "资料与备案信息不一致,请补件")
                continue
            event("endorse", v["stage"], v["stage"], sup)
            v["holder_role"] = Role.HEAD_OFFICE_APPROVER
            work(dur(1.8))
            if rng.random() < 0.03:
                leave(v, "reject", State.REJECTED, who.approver, "企业结算量不足以支撑直联项目成本")
                return p
            if rng.random() < 0.08 * rework:
                leave(v, "return_to_intake", State.BRANCH_INTAKE, who.approver, "费用测算需补充说明")
                continue
            leave(v, "approve", State.TEST_PACKAGE_ISSUANCE, who.approver)
            break
        while True:
            v = open_visit(State.TEST_PACKAGE_ISSUANCE)
            work(dur(1.5))
            leave(v, "issue_test_package", State.JOINT_TESTING, who.tech)
            v = open_visit(State.JOINT_TESTING)
            testing = 4.0 + 1.5 * len(modules)
            if rng.random() < 0.05:
                work(dur(testing) * 0.3)
                event("suspend", State.JOINT_TESTING, State.SUSPENDED, am, reason="客户系统升级")
                paused_from = clock
                clock = clock + dt.timedelta(days=rng.randint(4, 12))
                if clock > now:
                    p.state, p.state_before_suspend = State.SUSPENDED, State.JOINT_TESTING
                    v["paused_at"] = paused_from
                    p.events[-1]["created_at"] = paused_from
                    return p
                event("resume", State.SUSPENDED, State.JOINT_TESTING, am)
                v["paused_seconds"] = int((clock - paused_from).total_seconds())
            work(dur(testing))
            if rng.random() < 0.04 * rework:
                leave(v, "return_to_test_package", State.TEST_PACKAGE_ISSUANCE, who.tech, "测试证书需重新签发")
                continue
            if rng.random() < 0.2 * rework:
                event("test_result", "", "", None, kind=CaseEvent.Kind.RECORD)
                work(dur(0.5))
                event("retest_requested", "", "", who.tech, kind=CaseEvent.Kind.RECORD, reason="批量支付用例需重测")
                work(dur(3.0))
            event("test_result", "", "", None, kind=CaseEvent.Kind.RECORD)
            v["holder_party"], v["holder_role"] = "bank", Role.TECH_REVIEWER
            work(dur(1.0))
            if rng.random() < 0.015:
                leave(v, "withdraw", State.WITHDRAWN, am, "客户更换ERP系统")
                return p
            leave(v, "accept_test_report", State.UKEY_ISSUANCE, who.tech)
            break
        v = open_visit(State.UKEY_ISSUANCE)
        work(dur(2.5 * speed))
        leave(v, "complete_ukey_issuance", State.PRODUCTION_VERIFICATION, chk)
        v = open_visit(State.PRODUCTION_VERIFICATION)
        work(dur(2.0))
        p.confirmed_at = clock
        v["holder_party"], v["holder_role"] = "bank", Role.ACCOUNT_MANAGER
        work(dur(0.8))
        leave(v, "go_live", State.LIVE, am)
    except _Stop:
        pass
    return p


def _enterprise(i: int, branch: Branch, salt: int) -> Enterprise:
    body = f"9131011{salt % 10}HT{i:07d}"
    name = f"{NAMES[i % len(NAMES)]}{TRADES[(i // len(NAMES)) % len(TRADES)]}({branch.name[:2]}){i}号有限公司"
    idb = f"310101{1960 + i % 30}{i % 12 + 1:02d}{i % 28 + 1:02d}{i % 1000:03d}"
    rid = idb + resident_id_check_char(idb)
    return Enterprise(
        name=name,
        uscc=body + uscc_check_char(body),
        legal_rep_name="历史法人",
        legal_rep_id_number=rid,
        handler_name="历史法人",
        handler_id_number=rid,
        branch=branch,
    )


def generate(
    *, n: int, now: dt.datetime | None = None, years: float = 2.0, seed: int = 12, batch: int = 5000, salt: int = 0
) -> int:
    """Insert `n` generated cases (in batches) and return how many; facts are not refreshed here."""
    now = now or timezone.now()
    rng = random.Random(seed)
    subs = list(Branch.objects.filter(level=BranchLevel.SUB_BRANCH).order_by("code"))
    if not subs:
        return 0
    who = _people(subs)
    span = dt.timedelta(days=365 * years)
    line = WorkLine((now - span - dt.timedelta(days=10)).date(), (now + dt.timedelta(days=10)).date())
    User = get_user_model()
    creator = who.managers[subs[0].pk] or User.objects.order_by("pk").first()
    made = 0
    weights = [3, 2, 2, 1.5, 1, 1][: len(subs)] + [1] * max(0, len(subs) - 6)
    for lo in range(0, n, batch):
        plans: list[Plan] = []
        for _i in range(lo, min(n, lo + batch)):
            k = rng.choices(range(len(subs)), weights=weights)[0]
            start = now - span + dt.timedelta(seconds=rng.uniform(0, span.total_seconds() - 3 * 86400))
            start = start.replace(hour=9, minute=rng.randint(0, 59), second=0, microsecond=0)
            plans.append(plan_case(rng, branch=subs[k], profile=k, start=start, now=now, line=line, who=who))
        made += _insert(plans, lo, salt, now, creator)
    return made


@transaction.atomic
def _insert(plans: list[Plan], offset: int, salt: int, now: dt.datetime, creator: Any) -> int:
    ents = Enterprise.objects.bulk_create(
        [_enterprise(offset + j + 1 + salt * 1_000_000, p.branch, salt) for j, p in enumerate(plans)]
    )
    # One settlement account per company, and the company's data as its version 1: the case
    # points to what it was approved on, as a case walked through the services would.
    accounts = SettlementAccount.objects.bulk_create(
        [
            SettlementAccount(
                enterprise=e, account_number=f"62220{e.pk:011d}", account_name=e.name, opening_branch=e.branch.name
            )
            for e in ents
        ]
    )
    versions = CompanyVersion.objects.bulk_create(
        [
            CompanyVersion(
                enterprise=e,
                number=1,
                accounts=[{f: getattr(a, f) for f in ACCOUNT_FIELDS}],
                created_at=p.created,
                **{f: getattr(e, f) for f in DATA_FIELDS},
            )
            for p, e, a in zip(plans, ents, accounts, strict=True)
        ]
    )
    cases = OnboardingCase.objects.bulk_create(
        [
            OnboardingCase(
                company_version=v,
                reference=f"ZL-{p.created.year}{REF_MARK}{offset + j + 1 + salt * 1_000_000:07d}",
                enterprise=e,
                branch=p.branch,
                account_manager=p.manager,
                modules=p.modules,
                state=p.state,
                state_before_suspend=p.state_before_suspend,
                target_date=p.target,
                customer_confirmed_at=p.confirmed_at,
                created_by=creator,
                created_at=p.created,
                updated_at=max([p.created] + [ev["created_at"] for ev in p.events]),
                fee_amount=None,
            )
            for j, (p, e, v) in enumerate(zip(plans, ents, versions, strict=True))
        ]
    )
    visits: list[StageVisit] = []
    last: list[StageVisit | None] = []
    for p, c in zip(plans, cases, strict=True):
        mine = [
            StageVisit(
                case=c,
                stage=v["stage"],
                entered_at=v["entered_at"],
                left_at=v["left_at"],
                holder_party=v["holder_party"],
                holder_role=v["holder_role"],
                paused_at=v.get("paused_at"),
                paused_seconds=v.get("paused_seconds", 0),
            )
            for v in p.visits
        ]
        visits.extend(mine)
        last.append(mine[-1] if mine and mine[-1].left_at is None else None)
    StageVisit.objects.bulk_create(visits, batch_size=5000)
    for c, v in zip(cases, last, strict=True):
        c.current_visit = v
    OnboardingCase.objects.bulk_update(cases, ["current_visit"], batch_size=2000)
    CaseEvent.objects.bulk_create(
        [CaseEvent(case=c, **ev) for p, c in zip(plans, cases, strict=True) for ev in p.events], batch_size=5000
    )
    return len(cases)


def seed_history(*, cases: int = 600, stdout: Any = None) -> dict[str, int]:
    """Two years of demo history (once), then the visit facts and forecasts for every case."""
    from .facts import facts_rebuild
    from .forecast import forecasts_refresh_all

    made = 0
    if not OnboardingCase.objects.filter(reference__contains=REF_MARK).exists():
        made = generate(n=cases)
    facts = facts_rebuild()
    forecasts = forecasts_refresh_all()
    if stdout is not None:
        stdout.write(
            f"analytics history: {made} cases generated, {facts} visit facts, {forecasts} open cases forecast\n"
        )
    return {"history_cases": made, "visit_facts": facts, "forecasts": forecasts}
