"""The cockpit's one-statement roll-up (`closed_cells`) against the plain per-dimension
GROUP BYs and against plain Python on the same visits; on PostgreSQL also against the
database's own nearest-rank percentile (`percentile_disc`)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pytest
from django.db import connection

from analytics import selectors
from analytics.facts import facts_refresh
from analytics.models import VisitFact
from analytics.selectors import Period
from analytics.stats import percentile, percentile_of_histogram
from tests import analytics_history as h

MARCH = Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))
FLOW = [
    ("branch_intake", "submit_for_approval", "head_office_approval"),
    ("head_office_approval", "approve", "test_package_issuance"),
    ("test_package_issuance", "issue_test_package", "joint_testing"),
    ("joint_testing", "accept_test_report", "ukey_issuance"),
]
MODULE_SETS = [["account_query", "reconciliation"], ["account_query", "payroll"], ["account_query"]]


@pytest.fixture
def varied(world):
    """The fixed history plus 24 random cases: random stage lengths (to the hour, so ties and
    many distinct durations), both branches, three closers, three module sets, some returns."""
    rnd = random.Random(12)
    cases = list(h.build(world).values())
    closers = [world.am_a, world.supervisor, world.approver, world.tech]
    for i in range(24):
        company = rnd.choice([world.company_x, world.company_y])
        t = h.at(rnd.randint(2, 6), rnd.randint(0, 23))
        visits, events = [], []
        steps = FLOW[: rnd.randint(1, len(FLOW))]
        for stage, name, target in steps:
            end = t + dt.timedelta(hours=rnd.randint(1, 90))
            if stage == "head_office_approval" and rnd.random() < 0.3:
                visits.append((stage, t, end, "bank"))
                events.append(("transition", "return_to_intake", stage, "branch_intake", end, rnd.choice(closers)))
                t, end = end, end + dt.timedelta(hours=rnd.randint(1, 30))
                visits.append(("branch_intake", t, end, "bank"))
                events.append(("transition", "submit_for_approval", "branch_intake", stage, end, world.am_a))
                t, end = end, end + dt.timedelta(hours=rnd.randint(1, 60))
            visits.append((stage, t, end, "bank"))
            events.append(("transition", name, stage, target, end, rnd.choice(closers)))
            t = end
        visits.append((steps[-1][2], t, None, "bank"))
        case = h.build_case(world, ref=f"R-{i}", company=company, state=steps[-1][2], visits=visits, events=events)
        case.__class__.objects.filter(pk=case.pk).update(modules=rnd.choice(MODULE_SETS))
        cases.append(case)
    facts_refresh(case_ids=[c.pk for c in cases], now=h.NOW)
    return cases


def _scope(world):
    branches = list(world.approver.branch.__class__.objects.values_list("pk", flat=True))
    return selectors.scope_closed_facts(branch_ids=branches, period=MARCH)


def test_one_statement_gives_the_same_cells_as_one_group_by_per_dimension(varied, world) -> None:
    qs = _scope(world)
    cells = selectors.closed_cells(qs)
    for dim, got in (
        ("branch_id", cells.by_branch),
        ("closed_by_id", cells.by_closer),
        ("modules_key", cells.by_modules),
    ):
        want = selectors._histograms(qs, dim)
        assert set(got) == set(want) and len(want) > 5
        for key, cell in want.items():
            assert dict(got[key]["hist"]) == dict(cell["hist"]) and got[key]["n"] == cell["n"]
            if dim == "branch_id":
                assert [got[key][k] for k in selectors.CELL_KEYS] == [cell[k] for k in selectors.CELL_KEYS]
    flows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for f in qs:
        flows[(f.stage, f.closed_with)][0] += 1
        flows[(f.stage, f.closed_with)][1] += f.retests
    assert cells.by_flow == dict(flows)
    assert ("head_office_approval", "return_to_intake") in flows


def test_percentiles_from_the_histograms_are_the_nearest_rank_of_the_visits(varied, world) -> None:
    values: dict[tuple[str, int], list[int]] = defaultdict(list)
    for f in _scope(world):
        values[(f.stage, f.branch_id)].append(f.tenths)
    t = selectors.cockpit(user=world.approver, period=MARCH, now=h.NOW)
    names = {world.branch_a.pk: world.branch_a.name, world.branch_b.pk: world.branch_b.name}
    rows = {(r[0], r[1]): r[2:] for r in t["cycle_branch"].rows}
    assert len(rows) == len(values) > 5
    for (stage, branch), vs in values.items():
        want = [len(vs), percentile(vs, 50) / 10, percentile(vs, 85) / 10]  # type: ignore[operator]
        assert rows[(selectors.stage_label(stage), names[branch])] == want
        hist: dict[int, int] = defaultdict(int)
        for v in vs:
            hist[v] += 1
        assert percentile_of_histogram(hist, 85) == percentile(vs, 85)


@pytest.mark.postgres
def test_postgresql_percentile_disc_agrees_with_the_cockpit(varied, world) -> None:
    """PostgreSQL's percentile_disc(p) is the value at rank ceil(p·n): the same nearest rank."""
    lo, hi = MARCH.bounds()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT stage, branch_id, count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY tenths), "
            "percentile_disc(0.85) WITHIN GROUP (ORDER BY tenths) FROM analytics_visitfact "
            "WHERE left_at >= %s AND left_at < %s GROUP BY stage, branch_id",
            [lo, hi],
        )
        sql = {(s, b): [n, p50 / 10, p85 / 10] for s, b, n, p50, p85 in cur.fetchall()}
    t = selectors.cockpit(user=world.approver, period=MARCH, now=h.NOW)
    names = {world.branch_a.pk: world.branch_a.name, world.branch_b.pk: world.branch_b.name}
    rows = {(r[0], r[1]): r[2:] for r in t["cycle_branch"].rows}
    assert {(selectors.stage_label(s), names[b]): v for (s, b), v in sql.items()} == rows
    assert VisitFact.objects.count() > 60
