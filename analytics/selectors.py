"""The cockpit's figures, scoped to the user's branch subtree, in a constant number of queries.

Each figure is a `Table`: the page shows it beside its chart, the drill-down links of its
rows lead to the cases behind each number, and the CSV/Excel export writes exactly its rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from branches.models import Branch
from branches.roles import Role, user_roles
from casetypes import declaration
from casetypes.declaration import Feature

from . import calendar as workcal
from .models import CaseForecast, VisitFact
from .sources import (
    RETEST_RECORD,
    RETURN_TRANSITIONS,
    TRANSITION_TARGET,
    WORKING_STAGES,
    OnboardingCase,
    transition_label,
)
from .stats import percentile_of_histogram

ANALYTICS_ROLES = frozenset({Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER, Role.AUDITOR})
AGE_BUCKETS = ("within", "over1", "over15", "over2")


def analytics_allowed(user: Any) -> bool:
    return bool(getattr(user, "branch_id", None) and user_roles(user) & ANALYTICS_ROLES)


def scope_path(user: Any) -> str:
    """The branch subtree the user's figures cover (nothing for anyone else)."""
    return user.branch.path if analytics_allowed(user) else "#nobody#"  # no path starts so: nothing


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def default(cls, today: dt.date | None = None) -> Period:
        today = today or timezone.localdate()
        return cls(today - dt.timedelta(days=364), today)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        tz = timezone.get_current_timezone()
        lo = dt.datetime.combine(self.start, dt.time(), tzinfo=tz)
        hi = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        return lo, hi

    def params(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # one drill-down URL per row

    total: int | None = None  # set on a table cut by `head`: how many rows the whole one has

    @property
    def pairs(self) -> list[tuple[list[Any], str]]:
        return list(zip(self.rows, self.links, strict=True))

    @property
    def cut(self) -> bool:
        return self.total is not None and self.total > len(self.rows)

    def head(self, n: int) -> Table:
        """The first `n` rows, knowing how many the whole table has (`total`, `cut`)."""
        return Table(self.key, self.title, self.columns, self.rows[:n], self.links[:n], total=len(self.rows))


def _days(tenths: int | None) -> float | None:
    return None if tenths is None else tenths / 10


def _seconds_days(s: int | None) -> float:
    return round((s or 0) / workcal.DAY, 1)


def stage_label(code: str) -> str:
    return declaration.state_labels_shown().get(code, code)


def drill_url(period: Period, **params: Any) -> str:
    query = {**period.params(), **{k: v for k, v in params.items() if v not in (None, "")}}
    return f"{reverse('analytics:cases')}?{urlencode(query)}"


def _subtree(path: str) -> Any:
    """The branches of a subtree, as a subquery: figures and their drill-downs select the same
    visits by the case's branch (not by the path stored with the fact)."""
    return Branch.objects.filter(path__startswith=path).values("pk")


def closed_facts(*, path: str, period: Period) -> QuerySet[VisitFact]:
    lo, hi = period.bounds()
    return VisitFact.objects.filter(branch_id__in=_subtree(path), left_at__gte=lo, left_at__lt=hi)


CELL_KEYS = ("n", "bank", "customer", "ok", "slad")


def _empty_cell() -> dict[str, Any]:
    return {"hist": defaultdict(int), "n": 0, "bank": 0, "customer": 0, "ok": 0, "slad": 0}


def _histograms(qs: QuerySet[VisitFact], dim: str) -> dict[tuple[str, Any], dict[str, Any]]:
    """One GROUP BY: per (stage, dim) the histogram of durations and the sums the tables need.

    The straightforward form, one statement per dimension; `closed_cells` computes the same
    cells for all dimensions at once (tests compare the two)."""
    rows = (
        qs.values("stage", dim, "tenths")
        .annotate(
            n=Count("pk"),
            bank=Sum("bank_seconds"),
            customer=Sum("customer_seconds"),
            ok=Count("pk", filter=Q(within_sla=True)),
            slad=Count("pk", filter=Q(within_sla__isnull=False)),
        )
        .order_by()
    )
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in rows:
        cell = out.setdefault((r["stage"], r[dim]), _empty_cell())
        cell["hist"][r["tenths"]] += r["n"]
        for k in CELL_KEYS:
            cell[k] += r[k] or 0
    return out


@dataclass
class ClosedCells:
    """The stage visits that ended in a period, rolled up per dimension (see `closed_cells`)."""

    by_branch: dict[tuple[str, Any], dict[str, Any]]
    by_closer: dict[tuple[str, Any], dict[str, Any]]
    by_modules: dict[tuple[str, Any], dict[str, Any]]
    # (stage, closing transition) → [visits, re-tests asked for during them]
    by_flow: dict[tuple[str, str], list[int]]


FINE_DIMS = ("stage", "branch_id", "closed_by_id", "modules_key", "closed_with", "tenths")


def closed_cells(qs: QuerySet[VisitFact]) -> ClosedCells:
    """Every duration histogram and sum the cockpit shows, from ONE grouped statement.

    The database groups the visits by all dimensions at once (stage, branch, closer, module
    set, closing transition, duration in tenths of a working day): at 100,000 cases a year of
    closed visits (≈ 320,000) becomes ≈ 50,000 cells, read as plain tuples (no model
    instances), which Python then adds up per dimension. That is one pass over the facts
    instead of one scan per dimension; the percentiles are then taken from the
    histograms exactly as before, on any database."""
    grouped = (
        qs.values(*FINE_DIMS)
        .annotate(
            n=Count("pk"),
            bank=Sum("bank_seconds"),
            customer=Sum("customer_seconds"),
            ok=Count("pk", filter=Q(within_sla=True)),
            slad=Count("pk", filter=Q(within_sla__isnull=False)),
            retests=Sum("retests"),
        )
        .order_by()
    )
    try:
        sql, params = grouped.query.sql_with_params()
    except EmptyResultSet:  # no branch in scope
        rows: list[tuple[Any, ...]] = []
    else:
        with connections[qs.db].cursor() as cur:
            _tune(cur)
            cur.execute(sql, params)
            rows = cur.fetchall()
    # First the histograms per (stage, value, tenths) and the sums per (stage, branch), one
    # dictionary operation each per row; then one cell per (stage, value).
    hists: tuple[dict[tuple[Any, Any, Any], int], ...] = ({}, {}, {})
    sums: dict[tuple[str, Any], list[int]] = {}
    by_flow: dict[tuple[str, str], list[int]] = {}
    hb, hc, hm = hists
    hb_get, hc_get, hm_get, sums_get, flow_get = hb.get, hc.get, hm.get, sums.get, by_flow.get
    for stage, branch, closer, mods, closed_with, tenths, n, bank, customer, ok, slad, retests in rows:
        k = (stage, branch, tenths)
        hb[k] = hb_get(k, 0) + n
        k = (stage, closer, tenths)
        hc[k] = hc_get(k, 0) + n
        k = (stage, mods, tenths)
        hm[k] = hm_get(k, 0) + n
        kb = (stage, branch)
        acc = sums_get(kb)
        if acc is None:
            sums[kb] = [bank or 0, customer or 0, ok, slad]
        else:
            acc[0] += bank or 0
            acc[1] += customer or 0
            acc[2] += ok
            acc[3] += slad
        kf = (stage, closed_with)
        flow = flow_get(kf)
        if flow is None:
            by_flow[kf] = [n, retests or 0]
        else:
            flow[0] += n
            flow[1] += retests or 0
    cells: list[dict[tuple[str, Any], dict[str, Any]]] = [{}, {}, {}]
    for hist, out in zip(hists, cells, strict=True):
        for (stage, value, tenths), n in hist.items():
            cell = out.get((stage, value))
            if cell is None:
                cell = out[(stage, value)] = _empty_cell()
            cell["hist"][tenths] += n
            cell["n"] += n
    for key, (bank, customer, ok, slad) in sums.items():
        cell = cells[0][key]
        cell["bank"], cell["customer"], cell["ok"], cell["slad"] = bank, customer, ok, slad
    # Closer and module-set rows show counts and percentiles only: their sums stay zero.
    return ClosedCells(cells[0], cells[1], cells[2], by_flow)


def _tune(cur: Any) -> None:
    """On PostgreSQL, give the one grouping statement room to hash in memory (the default 4 MB
    spills ≈ 50,000 groups to disk) and no JIT compilation (it costs more than it saves for a
    statement this short). SET LOCAL lasts until the end of the transaction only."""
    if cur.db.vendor == "postgresql" and not cur.db.get_autocommit():
        cur.execute("SET LOCAL work_mem = '32MB'")
        cur.execute("SET LOCAL jit = off")


def _merge(cells: list[dict[str, Any]]) -> dict[str, Any]:
    total = _empty_cell()
    for c in cells:
        for v, n in c["hist"].items():
            total["hist"][v] += n
        for k in CELL_KEYS:
            total[k] += c[k]
    return total


def _stage_order(key: tuple[str, Any]) -> tuple[int, str]:
    stage = key[0]
    return (WORKING_STAGES.index(stage) if stage in WORKING_STAGES else 99, str(key[1]))


def scope_closed_facts(*, branch_ids: list[int], period: Period) -> QuerySet[VisitFact]:
    """The visits that ended in the period in these branches (the branch ids of the user's
    subtree, rather than a LIKE on the stored path)."""
    lo, hi = period.bounds()
    return VisitFact.objects.filter(branch_id__in=branch_ids, left_at__gte=lo, left_at__lt=hi)


def cockpit(*, user: Any, period: Period, now: dt.datetime | None = None) -> dict[str, Table]:
    """Every table of the cockpit page (ten statements, whatever the number of cases)."""
    return scope_cockpit(path=scope_path(user), period=period, now=now)


def scope_cockpit(*, path: str, period: Period, now: dt.datetime | None = None) -> dict[str, Table]:
    """The cockpit of one branch subtree (its materialised path); served to users through
    `analytics.snapshots`, which stores the result per scope, period and language."""
    with transaction.atomic(using=VisitFact.objects.db):  # read-only; scopes SET LOCAL (see _tune)
        return _cockpit(path=path, period=period, now=now)


def _cockpit(*, path: str, period: Period, now: dt.datetime | None = None) -> dict[str, Table]:
    now = now or timezone.now()
    branch_names = dict(Branch.objects.filter(path__startswith=path).values_list("pk", "name"))
    cells = closed_cells(scope_closed_facts(branch_ids=list(branch_names), period=period))
    by_branch, by_closer, by_modules = cells.by_branch, cells.by_closer, cells.by_modules
    closer_ids = {k[1] for k in by_closer if k[1]}
    people = {u.pk: str(u) for u in get_user_model().objects.filter(pk__in=closer_ids)}

    per_stage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (stage, _b), cell in by_branch.items():
        per_stage[stage].append(cell)
    stages = {s: _merge(per_stage[s]) for s in WORKING_STAGES if s in per_stage}

    t: dict[str, Table] = {}
    t["cycle_stage"] = tab = Table(
        "cycle_stage", _("各阶段用时(工作日)"), [_("阶段"), _("阶段记录数"), _("中位数 P50"), _("85分位 P85")]
    )
    for s, c in stages.items():
        tab.rows.append(
            [
                stage_label(s),
                c["n"],
                _days(percentile_of_histogram(c["hist"], 50)),
                _days(percentile_of_histogram(c["hist"], 85)),
            ]
        )
        tab.links.append(drill_url(period, fig="cycle", stage=s))

    def dim_table(
        key: str, title: str, head: str, cells: dict[tuple[str, Any], dict[str, Any]], name: Any, p: str
    ) -> None:
        tab = Table(key, title, [_("阶段"), head, _("阶段记录数"), _("中位数 P50"), _("85分位 P85")])
        for k in sorted(cells, key=_stage_order):
            c = cells[k]
            tab.rows.append(
                [
                    stage_label(k[0]),
                    name(k[1]),
                    c["n"],
                    _days(percentile_of_histogram(c["hist"], 50)),
                    _days(percentile_of_histogram(c["hist"], 85)),
                ]
            )
            tab.links.append(drill_url(period, fig="cycle", stage=k[0], **{p: k[1] if k[1] is not None else "none"}))
        t[key] = tab

    dim_table(
        "cycle_branch", _("各机构阶段用时(工作日)"), _("机构"), by_branch, lambda b: branch_names.get(b, b), "branch"
    )
    dim_table(
        "cycle_reviewer",
        _("各经办人阶段用时(工作日)"),
        _("办结人"),
        by_closer,
        lambda u: people.get(u, _("(无)")),
        "closer",
    )
    dim_table("cycle_modules", _("各模块组合阶段用时(工作日)"), _("功能模块"), by_modules, modules_label, "modules")

    t["ball"] = tab = Table(
        "ball",
        _("球在谁手:等待银行与等待客户(工作日合计)"),
        [_("阶段"), _("机构"), _("等待银行"), _("等待客户"), _("客户占比 %")],
    )
    for s, c in stages.items():
        tab.rows.append([stage_label(s), _("全部"), _seconds_days(c["bank"]), _seconds_days(c["customer"]), _share(c)])
        tab.links.append(drill_url(period, fig="cycle", stage=s))
    for k in sorted(by_branch, key=_stage_order):
        c = by_branch[k]
        tab.rows.append(
            [
                stage_label(k[0]),
                branch_names.get(k[1], k[1]),
                _seconds_days(c["bank"]),
                _seconds_days(c["customer"]),
                _share(c),
            ]
        )
        tab.links.append(drill_url(period, fig="cycle", stage=k[0], branch=k[1]))

    t["sla"] = tab = Table(
        "sla",
        _("时限达成率(按阶段与机构)"),
        [_("阶段"), _("机构"), _("阶段记录数"), _("时限内"), _("超时"), _("达成率 %")],
    )
    rows_sla = [(s, None, c) for s, c in stages.items()] + [
        (k[0], k[1], by_branch[k]) for k in sorted(by_branch, key=_stage_order)
    ]
    for s, b, c in rows_sla:
        if not c["slad"]:
            continue
        tab.rows.append(
            [
                stage_label(s),
                branch_names.get(b, b) if b else _("全部"),
                c["slad"],
                c["ok"],
                c["slad"] - c["ok"],
                round(100 * c["ok"] / c["slad"], 1),
            ]
        )
        tab.links.append(drill_url(period, fig="sla", stage=s, branch=b, breach=1))

    t.update(type_tables(branch_ids=list(branch_names), period=period))
    t["flow"] = flow_table(period=period, by_flow=cells.by_flow)
    t["funnel"] = funnel_table(branch_ids=list(branch_names), period=period)
    t["ageing"] = ageing_table(path=path, period=period, now=now)
    t["risk"] = risk_table(path=path, period=period, now=now)
    return t


def _type_label(code: str) -> str:
    declared = declaration.CASE_TYPES.get(code)
    return str(declared.label) if declared is not None else code


def _type_order(code: str) -> tuple[int, str]:
    codes = list(declaration.CASE_TYPES)
    return (codes.index(code) if code in codes else len(codes), code)


def _stage_rank(code: str, stage: str) -> tuple[int, str]:
    declared = declaration.CASE_TYPES.get(code)
    order = list(declared.order) if declared is not None else []
    return (order.index(stage) if stage in order else 99, stage)


def type_tables(*, branch_ids: list[int], period: Period) -> dict[str, Table]:
    """Per case type (onboarding and each request type of the registry): cycle time and where
    they wait, from the facts (every timed stage of every type is a `VisitFact`).

    - `type_cycle`: per type, the cases whose last timed stage ended in the period with none
      open (working days over all their stages, P50/P85 nearest rank), and the cases open now.
    - `type_stage`: per type and stage, the stages that ended in the period (P50/P85 working
      days, waiting on the bank vs the customer) and the cases waiting in that stage now.
    Three grouped statements whatever the number of cases."""
    lo, hi = period.bounds()
    in_scope = VisitFact.objects.filter(branch_id__in=branch_ids)
    cycles: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    open_cases: dict[str, int] = defaultdict(int)
    per_case = in_scope.values("case_id", "case__case_type").annotate(
        total=Sum("tenths"), last=Max("left_at"), still_open=Count("pk", filter=Q(left_at__isnull=True))
    )
    for row in per_case.values_list("case__case_type", "total", "last", "still_open"):
        code, total, last, still_open = row
        if still_open:
            open_cases[code] += 1
        elif last is not None and lo <= last < hi:
            cycles[code][total or 0] += 1
    stages: dict[tuple[str, str], dict[str, Any]] = defaultdict(_empty_cell)
    closed = (
        in_scope.filter(left_at__gte=lo, left_at__lt=hi)
        .values("case__case_type", "stage", "tenths")
        .annotate(n=Count("pk"), bank=Sum("bank_seconds"), customer=Sum("customer_seconds"))
    )
    for code, stage, tenths, n, bank, customer in closed.values_list(
        "case__case_type", "stage", "tenths", "n", "bank", "customer"
    ):
        cell = stages[(code, stage)]
        cell["hist"][tenths] += n
        cell["n"] += n
        cell["bank"] += bank or 0
        cell["customer"] += customer or 0
    waiting: dict[tuple[str, str], int] = {
        (code, stage): n
        for code, stage, n in in_scope.filter(left_at__isnull=True)
        .values("case__case_type", "stage")
        .annotate(n=Count("pk"))
        .values_list("case__case_type", "stage", "n")
    }

    cycle = Table(
        "type_cycle",
        _("各类案件办理周期(工作日)"),
        [_("案件类型"), _("办结案件数"), _("中位数 P50"), _("85分位 P85"), _("在办案件数")],
    )
    for code in sorted(set(cycles) | set(open_cases), key=_type_order):
        hist = cycles.get(code, {})
        cycle.rows.append(
            [
                _type_label(code),
                sum(hist.values()),
                _days(percentile_of_histogram(hist, 50)),
                _days(percentile_of_histogram(hist, 85)),
                open_cases.get(code, 0),
            ]
        )
        cycle.links.append(drill_url(period, fig="cycle"))
    by_stage = Table(
        "type_stage",
        _("各类案件在哪里等待(按阶段,工作日)"),
        [
            _("案件类型"),
            _("阶段"),
            _("阶段记录数"),
            _("中位数 P50"),
            _("85分位 P85"),
            _("等待银行"),
            _("等待客户"),
            _("当前停留案件数"),
        ],
    )
    keys = sorted(set(stages) | set(waiting), key=lambda k: (_type_order(k[0]), _stage_rank(*k)))
    for code, stage in keys:
        c = stages.get((code, stage)) or _empty_cell()
        by_stage.rows.append(
            [
                _type_label(code),
                stage_label(stage),
                c["n"],
                _days(percentile_of_histogram(c["hist"], 50)),
                _days(percentile_of_histogram(c["hist"], 85)),
                _seconds_days(c["bank"]),
                _seconds_days(c["customer"]),
                waiting.get((code, stage), 0),
            ]
        )
        by_stage.links.append(drill_url(period, fig="cycle", stage=stage))
    return {"type_cycle": cycle, "type_stage": by_stage}


def _share(c: dict[str, Any]) -> float | None:
    total = c["bank"] + c["customer"]
    return round(100 * c["customer"] / total, 1) if total else None


def modules_label(key: str | None) -> str:
    from .sources import Module

    if not key:
        return _("(无)")
    return "+".join(str(Module(m).label) if m in Module.values else m for m in key.split("+"))


# --- rework flow (Sankey) ------------------------------------------------------------------------


def flow_node(name: str, source: str) -> tuple[str, str] | None:
    """(from node, to node) of a flow link; rework goes to its own node so the graph stays acyclic."""
    target = TRANSITION_TARGET.get(name)
    if target is None:
        return None
    if name in RETURN_TRANSITIONS:
        return stage_label(source), _("退回补件→%(stage)s") % {"stage": stage_label(target)}
    return stage_label(source), stage_label(target)


def flow_label(name: str, source: str) -> str:
    if name == RETEST_RECORD:
        return _("要求重测")
    return f"{stage_label(source)}:{transition_label(name)}"


def flow_table(*, period: Period, by_flow: dict[tuple[str, str], list[int]]) -> Table:
    """Stage visits that ended in the period, by the transition that ended them; re-tests asked
    for during joint-testing visits that ended in the period."""
    rows: list[dict[str, Any]] = [
        {"stage": stage, "closed_with": name, "n": n, "retests": retests}
        for (stage, name), (n, retests) in by_flow.items()
    ]
    tab = Table("flow", _("流转与返工(次数)"), [_("从"), _("到"), _("次数"), _("返工")])
    links: list[tuple[int, str, str, int, bool, str]] = []
    retests = 0
    for r in rows:
        retests += r["retests"] or 0
        nodes = flow_node(r["closed_with"], r["stage"])
        if nodes is None:
            continue
        rework = r["closed_with"] in RETURN_TRANSITIONS
        order = WORKING_STAGES.index(r["stage"]) if r["stage"] in WORKING_STAGES else 99
        links.append(
            (
                order,
                nodes[0],
                nodes[1],
                r["n"],
                rework,
                drill_url(period, fig="flow", event=r["closed_with"], source=r["stage"]),
            )
        )
    if retests:
        testing = declaration.states_with(Feature.JOINT_TESTS)[0]
        order = WORKING_STAGES.index(testing)
        links.append(
            (
                order,
                stage_label(testing),
                _("要求重测"),
                retests,
                True,
                drill_url(period, fig="flow", event=RETEST_RECORD, source=testing),
            )
        )
    for _o, a, b, n, rework, url in sorted(links, key=lambda x: (x[0], x[4], x[2])):
        tab.rows.append([a, b, n, _("是") if rework else ""])
        tab.links.append(url)
    return tab


# --- funnel and ageing --------------------------------------------------------------------------


def _cohort_facts(path: str, period: Period) -> QuerySet[VisitFact]:
    """Visits of the cases that entered branch intake for the first time in the period."""
    lo, hi = period.bounds()
    return VisitFact.objects.filter(branch_id__in=_subtree(path), case_started_at__gte=lo, case_started_at__lt=hi)


def funnel_table(*, branch_ids: list[int], period: Period) -> Table:
    lo, hi = period.bounds()
    rows = (
        VisitFact.objects.filter(branch_id__in=branch_ids, case_started_at__gte=lo, case_started_at__lt=hi)
        .values("stage")
        .annotate(n=Count("pk", filter=Q(first_visit=True)), live=Count("pk", filter=Q(closed_with="go_live")))
        .order_by()
    )
    reached = {r["stage"]: r["n"] for r in rows}
    # The funnel is the onboarding journey's: how far the cases received got, up to going live
    # (requests on a live link have their own tables, "by case type").
    journey = declaration.case_type("onboarding")
    for code in journey.live_states:
        reached[code] = sum(r["live"] for r in rows)
    tab = Table("funnel", _("漏斗:期内受理的案件到达各阶段"), [_("阶段"), _("案件数")])
    for s in (*[stage.code for stage in journey.working], *journey.live_states):
        tab.rows.append([stage_label(s), reached.get(s, 0)])
        tab.links.append(drill_url(period, fig="funnel", stage=s))
    return tab


def bucket_label(b: str) -> str:
    return {
        "within": _("时限内"),
        "over1": _("超时 1–1.5 倍"),
        "over15": _("超时 1.5–2 倍"),
        "over2": _("超时 2 倍以上"),
    }[b]


def age_bucket(age_seconds: int, sla_days: int | None) -> str:
    if not sla_days:
        return "within"
    ratio = age_seconds / (sla_days * workcal.DAY)
    return "within" if ratio <= 1 else "over1" if ratio <= 1.5 else "over15" if ratio <= 2 else "over2"


def _open_facts(path: str) -> QuerySet[VisitFact]:
    return VisitFact.objects.filter(branch_path__startswith=path, left_at__isnull=True, case__state__in=WORKING_STAGES)


def _age(cal: workcal.WorkCalendar, work_seconds: int, refreshed_at: dt.datetime, now: dt.datetime) -> int:
    # The stored running time counts pauses correctly up to the refresh; the case has run since.
    return work_seconds + max(cal.working_seconds(refreshed_at, now), 0)


def open_visit_ages(*, path: str, now: dt.datetime, stage: str = "") -> list[tuple[VisitFact, int, str]]:
    """Open, running visits (of one stage) with their age (working seconds, suspensions excluded) and bucket."""
    qs = _open_facts(path)
    if stage:
        qs = qs.filter(stage=stage)
    facts = list(qs.select_related("case", "case__enterprise", "case__branch", "case__forecast").order_by("entered_at"))
    if not facts:
        return []
    cal = workcal.calendar_for(min(f.refreshed_at for f in facts), now)
    out = []
    for f in facts:
        age = _age(cal, f.work_seconds, f.refreshed_at, now)
        out.append((f, age, age_bucket(age, f.sla_days)))
    return out


def ageing_table(*, path: str, period: Period, now: dt.datetime) -> Table:
    rows = list(_open_facts(path).values_list("stage", "work_seconds", "refreshed_at", "sla_days"))
    counts: dict[tuple[str, str], int] = defaultdict(int)
    if rows:
        cal = workcal.calendar_for(min(r[2] for r in rows), now)
        # Open visits are refreshed together (nightly, and at each event of their case): the
        # working time since a refresh is counted once per distinct refresh time.
        since: dict[dt.datetime, int] = {}
        for stage, work, refreshed, sla in rows:
            extra = since.get(refreshed)
            if extra is None:
                extra = since[refreshed] = max(cal.working_seconds(refreshed, now), 0)
            counts[(stage, age_bucket(work + extra, sla))] += 1
    tab = Table("ageing", _("在途案件账龄(当前阶段,按时限倍数)"), [_("阶段"), *[bucket_label(b) for b in AGE_BUCKETS]])
    for s in WORKING_STAGES:
        tab.rows.append([stage_label(s), *[counts.get((s, b), 0) for b in AGE_BUCKETS]])
        tab.links.append(drill_url(period, fig="ageing", stage=s))
    return tab


# --- at risk ------------------------------------------------------------------------------------


def at_risk_forecasts(
    *, user: Any = None, path: str | None = None, now: dt.datetime | None = None
) -> QuerySet[CaseForecast]:
    now = now or timezone.now()
    return (
        CaseForecast.objects.filter(
            case__branch__path__startswith=scope_path(user) if path is None else path,
            case__state__in=WORKING_STAGES,
        )
        .filter(Q(target_late=True) | Q(stage_late_at__lte=now))
        .select_related("case", "case__enterprise", "case__branch", "case__account_manager")
        .order_by("p85_date", "case__reference")
    )


def holder_label(party: str, role: str) -> str:
    roles, parties = _holder_labels()
    label = roles.get(role) or parties.get(party)
    return role if label is None else label


_ROLE_LABELS = {value: label for value, label in zip(Role.values, Role.labels, strict=True)}
_HOLDER_LABELS: dict[Any, tuple[dict[str, str], dict[str, str]]] = {}


def _holder_labels() -> tuple[dict[str, str], dict[str, str]]:
    """The roles' and parties' labels in the reader's language, made once per language (the
    lists' forecast cells name the holder of each case at risk)."""
    language = get_language()
    labels = _HOLDER_LABELS.get(language)
    if labels is None:
        from .sources import Party

        labels = (
            {value: str(label) for value, label in _ROLE_LABELS.items()},
            {value: str(label) for value, label in zip(Party.values, Party.labels, strict=True)},
        )
        _HOLDER_LABELS[language] = labels
    return labels


def risk_table(*, path: str, period: Period, now: dt.datetime) -> Table:
    tab = Table(
        "risk",
        _("存在延期风险的在途案件"),
        [
            _("编号"),
            _("企业"),
            _("机构"),
            _("当前阶段"),
            _("办理方"),
            _("P50 上线"),
            _("P85 上线"),
            _("目标上线"),
            _("风险"),
        ],
    )
    fields = (
        "case__reference",
        "case__enterprise__name",
        "case__branch__name",
        "stage",
        "holder_party",
        "holder_role",
        "p50_date",
        "p85_date",
        "target_date",
        "target_late",
        "stage_late_at",
        "stage_elapsed_days",
        "stage_p85_days",
        "case__public_id",
    )
    # Plain values (no model instances) and one URL pattern for the 500 rows.
    marker = "00000000-0000-0000-0000-000000000000"
    pattern = reverse("case_detail", args=[marker])
    for (
        ref,
        company,
        branch,
        stage,
        party,
        role,
        p50,
        p85,
        target,
        late,
        late_at,
        days,
        p85d,
        public_id,
    ) in at_risk_forecasts(path=path, now=now).values_list(*fields)[:500]:
        f = CaseForecast(
            stage=stage, target_late=late, stage_late_at=late_at, stage_elapsed_days=days, stage_p85_days=p85d
        )
        tab.rows.append(
            [ref, company, branch, stage_label(stage), holder_label(party, role), p50, p85, target, risk_text(f, now)]
        )
        tab.links.append(pattern.replace(marker, str(public_id)))
    return tab


def risk_text(f: CaseForecast, now: dt.datetime) -> str:
    parts = []
    if f.target_late:
        parts.append(_("P85 晚于目标上线日"))
    if f.stage_late(now):
        parts.append(
            _("%(stage)s已用 %(days)s 个工作日,超过该阶段 P85(%(p85)s)")
            % {"stage": stage_label(f.stage), "days": f.stage_elapsed_days, "p85": f.stage_p85_days}
        )
    return ";".join(parts)


# --- drill-down ---------------------------------------------------------------------------------


@dataclass
class DrillRow:
    case: OnboardingCase
    stage: str
    days: float | None
    detail: str
    forecast: CaseForecast | None = None

    def __post_init__(self) -> None:
        # The facts' querysets select `case__forecast`, so reading it costs no query.
        if self.forecast is None and self.case.is_open:
            self.forecast = getattr(self.case, "forecast", None)


def drill_down(
    *, user: Any, period: Period, params: dict[str, str], now: dt.datetime | None = None, limit: int | None = None
) -> tuple[str, list[DrillRow], int]:
    """The cases behind one figure (same filters as the figure), a title saying which, and
    their number; with `limit`, only that many rows are loaded (one COUNT gives the total)."""
    now = now or timezone.now()
    total: int | None = None

    def page(qs: QuerySet[VisitFact]) -> QuerySet[VisitFact]:
        nonlocal total
        if limit is None:
            return qs
        total = qs.count()
        return qs[:limit]

    path = scope_path(user)
    fig, stage = params.get("fig", ""), params.get("stage", "")
    rows: list[DrillRow] = []
    title = ""
    if fig in ("cycle", "sla"):
        qs = closed_facts(path=path, period=period).filter(stage=stage)
        if params.get("branch"):
            qs = qs.filter(branch_id=_int(params["branch"]) or 0)
        if params.get("closer"):
            qs = qs.filter(closed_by_id=None if params["closer"] == "none" else _int(params["closer"]))
        if params.get("modules"):
            qs = qs.filter(modules_key="" if params["modules"] == "none" else params["modules"])
        if fig == "sla" and params.get("breach"):
            qs = qs.filter(within_sla=False)
        title = _("%(stage)s 的阶段记录") % {"stage": stage_label(stage)}
        for f in page(
            qs.select_related("case", "case__enterprise", "case__branch", "case__forecast").order_by(
                "-tenths", "case__reference"
            )
        ):
            rows.append(
                DrillRow(
                    f.case,
                    f.stage,
                    f.tenths / 10,
                    _("银行 %(b)s / 客户 %(c)s")
                    % {"b": _seconds_days(f.bank_seconds), "c": _seconds_days(f.customer_seconds)},
                )
            )
    elif fig == "flow":
        name, source = params.get("event", ""), params.get("source", "")
        qs = closed_facts(path=path, period=period).filter(stage=source)
        qs = qs.filter(retests__gt=0) if name == RETEST_RECORD else qs.filter(closed_with=name)
        title = _("流转:%(name)s") % {"name": flow_label(name, source)}
        for f in page(
            qs.select_related("case", "case__enterprise", "case__branch", "case__forecast").order_by("-left_at")
        ):
            assert f.left_at is not None
            rows.append(DrillRow(f.case, f.stage, None, timezone.localtime(f.left_at).strftime("%Y-%m-%d %H:%M")))
    elif fig == "funnel":
        facts = _cohort_facts(path, period)
        facts = (
            facts.filter(closed_with="go_live")
            if stage in declaration.live_states()
            else facts.filter(stage=stage, first_visit=True)
        )
        title = _("到达 %(stage)s 的案件") % {"stage": stage_label(stage)}
        for f in page(
            facts.select_related("case", "case__enterprise", "case__branch", "case__forecast").order_by(
                "case__reference"
            )
        ):
            rows.append(DrillRow(f.case, f.case.state, None, ""))
    elif fig == "ageing":
        title = _("%(stage)s 的在途案件") % {"stage": stage_label(stage)}
        for f, age, b in open_visit_ages(path=path, now=now, stage=stage):
            if not params.get("bucket") or params["bucket"] == b:
                rows.append(DrillRow(f.case, f.stage, round(age / workcal.DAY, 1), bucket_label(b)))
        rows.sort(key=lambda r: -(r.days or 0))
    elif fig == "risk":
        title = _("存在延期风险的在途案件")
        for fc in at_risk_forecasts(user=user, now=now):
            rows.append(DrillRow(fc.case, fc.stage, fc.stage_elapsed_days, risk_text(fc, now), forecast=fc))
    if total is None:
        total = len(rows)
        rows = rows[:limit] if limit is not None else rows
    return title, rows, total


def drill_table(title: str, rows: list[DrillRow]) -> Table:
    tab = Table(
        "cases",
        title,
        [_("编号"), _("企业"), _("机构"), _("阶段"), _("工作日"), _("说明"), _("P50 上线"), _("P85 上线")],
    )
    for r in rows:
        f = r.forecast
        tab.rows.append(
            [
                r.case.reference,
                r.case.enterprise.name,
                r.case.branch.name,
                stage_label(r.stage),
                r.days,
                r.detail,
                f.p50_date if f else None,
                f.p85_date if f else None,
            ]
        )
        tab.links.append(reverse("case_detail", args=[r.case.public_id]))
    return tab


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
