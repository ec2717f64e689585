"""Benchmark of the management cockpit on PostgreSQL.

    .venv/bin/python bench/analytics.py [--cases 100000] [--db analytics_bench] [--reset]

Builds (once; `--reset` rebuilds) a database with a head office, 4 tier-1 branches and 16
sub-branches and `--cases` cases over two years from the demo-history generator
(`analytics/history.py`), then the visit facts and forecasts (timed). Then measures, as head
office (the whole bank) over the default period (the last year), the median of 5 runs of:
the cockpit's figures alone, the whole page (view + template), a drill-down list and a CSV
export, each with its number of SQL statements, and the CPU time the figures take (this
process plus its PostgreSQL backend, read from /proc when the server runs on this machine:
on a shared machine the wall-clock time mostly measures the neighbours). It ends by saying
whether the targets hold: the page served from its snapshot (what every page view of the
default period does, `analytics.snapshots`) answers in at most SERVED_TARGET_MS ("well under a
second") and no grouped statement runs; and, for the record, whether the page with figures
computed on request (no snapshot, or a stale one) answers in at most TARGET_MS and in at most
TARGET_STATEMENTS statements. It also times one refresh of every scope (the beat task).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 250
SERVED_TARGET_MS = 250
TARGET_STATEMENTS = 15
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", default="analytics_bench")
    parser.add_argument("--reset", action="store_true")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone()
        if exists and args.reset:
            conn.execute(f'DROP DATABASE "{args.db}"')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.db}"')

    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from analytics.models import VisitFact
    from onboarding.models import OnboardingCase

    if OnboardingCase.objects.count() != args.cases:
        build(args.cases)
    if not VisitFact.objects.exists():
        derive()
    measure()


def build(n: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from analytics import history
    from branches.models import Branch, BranchLevel
    from branches.roles import Role, ensure_role_groups
    from onboarding.models import OnboardingCase

    if OnboardingCase.objects.exists():
        # The evidence tables refuse TRUNCATE (config/evidence.py): a new size is a new database.
        raise SystemExit("bench: the database holds another number of cases: run again with --reset")
    ensure_role_groups()
    User = get_user_model()

    def person(username: str, role: str, branch: Branch) -> None:
        u, _ = User.objects.get_or_create(username=username, defaults={"branch": branch, "display_name": username})
        u.groups.add(Group.objects.get(name=role))

    ho, _ = Branch.objects.get_or_create(code="HO", defaults={"name": "总行", "level": BranchLevel.HEAD_OFFICE})
    person("ho_approver", Role.HEAD_OFFICE_APPROVER, ho)
    person("ho_tech", Role.TECH_REVIEWER, ho)
    for t in range(4):
        tier1, _ = Branch.objects.get_or_create(
            code=f"T{t}", defaults={"name": f"第{t + 1}分行", "level": BranchLevel.BRANCH, "parent": ho}
        )
        person(f"sup_{t}", Role.BRANCH_SUPERVISOR, tier1)
        for s in range(4):
            sub, _ = Branch.objects.get_or_create(
                code=f"T{t}S{s}",
                defaults={"name": f"第{t + 1}分行第{s + 1}支行", "level": BranchLevel.SUB_BRANCH, "parent": tier1},
            )
            person(f"am_{t}{s}", Role.ACCOUNT_MANAGER, sub)
            person(f"checker_{t}{s}", Role.COUNTER_CHECKER, sub)
    t0 = time.perf_counter()
    made = history.generate(n=n, seed=1)
    print(f"built {made} cases in {time.perf_counter() - t0:.0f} s")


def derive() -> None:
    from django.db import connection

    from analytics.facts import facts_rebuild
    from analytics.forecast import forecasts_refresh_all

    t1 = time.perf_counter()
    facts = facts_rebuild()
    t2 = time.perf_counter()
    forecasts = forecasts_refresh_all()
    t3 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"{facts} visit facts in {t2 - t1:.0f} s; model fit + {forecasts} open-case forecasts in {t3 - t2:.0f} s")


def measure() -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from analytics import selectors, views
    from analytics.models import VisitFact
    from analytics.selectors import Period
    from onboarding.models import OnboardingCase

    user = get_user_model().objects.get(username="ho_approver")
    period = Period.default()
    rf = RequestFactory()
    print(
        f"cases {OnboardingCase.objects.count()}, visit facts {VisitFact.objects.count()}, "
        f"closed visits in the period {selectors.closed_facts(path=user.branch.path, period=period).count()}"
    )

    def backend_cpu() -> float | None:
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                pid = cur.fetchone()[0]
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None  # the server runs elsewhere

    results: dict[str, tuple[float, int, float | None]] = {}

    def run(label: str, fn) -> None:
        times, cpus, n = [], [], 0
        for _ in range(5):
            fresh = get_user_model().objects.select_related("branch").get(pk=user.pk)
            b0 = backend_cpu()
            with CaptureQueriesContext(connection) as ctx:
                c0, t = time.process_time(), time.perf_counter()
                fn(fresh)
                times.append(time.perf_counter() - t)
                cpu = time.process_time() - c0
            n = len(ctx.captured_queries)
            b1 = backend_cpu()
            if b0 is not None and b1 is not None:
                cpus.append(cpu + b1 - b0)
        wall = 1000 * statistics.median(times)
        cpu_ms = 1000 * statistics.median(cpus) if cpus else None
        results[label] = (wall, n, cpu_ms)
        cpu_text = f"   CPU {cpu_ms:5.0f} ms" if cpu_ms is not None else ""
        print(f"{label:<42} median {wall:7.0f} ms   {n:3d} statements{cpu_text}")

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    def request(u, path: str):
        r = rf.get(path)
        r.user = u
        return r

    from analytics import snapshots
    from analytics.models import CockpitSnapshot

    def cold_page(u):
        CockpitSnapshot.objects.all().delete()  # no snapshot: computed on request (and stored)
        return views.cockpit_view(request(u, "/analytics/"))

    figure_statements: list[int] = []

    def served_page(u):
        with CaptureQueriesContext(connection) as ctx:
            page = views.cockpit_view(request(u, "/analytics/"))
        figure_statements.append(sum("analytics_visitfact" in q["sql"] for q in ctx.captured_queries))
        return page

    run("cockpit figures (selectors.cockpit)", lambda u: selectors.cockpit(user=u, period=period))
    run("cockpit page, figures computed (cold)", cold_page)
    CockpitSnapshot.objects.all().delete()
    t = time.perf_counter()
    written = snapshots.refresh()
    print(
        f"refresh of every scope (beat task): {written} snapshots "
        f"({len(snapshots.snapshot_scopes())} scopes × {len(snapshots.languages())} languages) "
        f"in {time.perf_counter() - t:.1f} s"
    )
    run("cockpit page, served from its snapshot", served_page)
    run(
        "drill-down: intake visits over SLA",
        lambda u: views.cases_view(request(u, "/analytics/cases/?fig=sla&stage=branch_intake&breach=1")),
    )
    run(
        "CSV export of the branch table",
        lambda u: views.export_view(request(u, "/analytics/export.csv?table=cycle_branch"), "csv"),
    )
    sup = get_user_model().objects.get(username="sup_0")
    user = sup
    run("cockpit page as a tier-1 supervisor (cold)", cold_page)
    snapshots.refresh()
    run("tier-1 supervisor, served from its snapshot", served_page)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    wall, n, cpu_ms = results["cockpit page, served from its snapshot"]
    holds = wall <= SERVED_TARGET_MS and not any(figure_statements)
    print(
        f"target (default page served from its snapshot ≤ {SERVED_TARGET_MS} ms, no statement on the facts): "
        f"{'HOLDS' if holds else 'DOES NOT HOLD'} ({wall:.0f} ms, {n} statements, "
        f"{max(figure_statements)} on the facts" + (f", CPU {cpu_ms:.0f} ms" if cpu_ms is not None else "") + ")"
    )
    wall, n, cpu_ms = results["cockpit page, figures computed (cold)"]
    holds = wall <= TARGET_MS and n <= TARGET_STATEMENTS
    print(
        f"target (page with figures computed on request ≤ {TARGET_MS} ms, ≤ {TARGET_STATEMENTS} statements): "
        f"{'HOLDS' if holds else 'DOES NOT HOLD'} ({wall:.0f} ms, {n} statements"
        + (f", CPU {cpu_ms:.0f} ms" if cpu_ms is not None else "")
        + ")"
    )


if __name__ == "__main__":
    main()
