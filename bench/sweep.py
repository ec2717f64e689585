"""Benchmark of the overdue sweep on PostgreSQL.

    .venv/bin/python bench/sweep.py [--cases 100000] [--overdue 10000] [--db bench_sweep]

Builds (once; `--reset` rebuilds) a template database `<db>_template` with `--cases` open
cases in branch intake, of which `--overdue` are past their due time by 1–30 days (so they
reach different reminder levels), by bulk insertion rather than through the services. Every
run then recreates `<db>` from that template (DROP DATABASE, CREATE DATABASE … TEMPLATE): the
case events and reminders the previous run wrote are evidence, which the database refuses to
delete or truncate (pgtrigger triggers, config/evidence.py), so the bench starts from a fresh
copy instead of cleaning up.
Then, in one run, side by side:
a raw SQL select of the overdue rows, the first sweep (everything to claim, record and
notify), and a second sweep (nothing new). E-mail is only queued (in-memory broker), as in
production where workers send it. The sweep runs in REMINDER_SWEEP_PARTITIONS parts at once
(the setting's default, 2; `REMINDER_SWEEP_PARTITIONS=1` for the whole sweep in one part).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--overdue", type=int, default=10_000)
    parser.add_argument("--db", default="bench_sweep")
    parser.add_argument("--reset", action="store_true")
    args = parser.parse_args()

    import psycopg

    template = f"{args.db}_template"
    admin_url = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone()
        if exists and args.reset:
            conn.execute(f'DROP DATABASE "{template}"')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{template}"')

    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{template}"
    os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from config.celery import app

    app.conf.broker_url = "memory://"
    call_command("migrate", verbosity=0)

    from onboarding.models import OnboardingCase

    if OnboardingCase.objects.count() != args.cases:
        if OnboardingCase.objects.exists():
            connection.close()
            sys.exit(f"{template} holds another size of data set: run again with --reset")
        build(args.cases, args.overdue)
    connection.close()  # a template must have no connection while it is copied

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        conn.execute(f'CREATE DATABASE "{args.db}" TEMPLATE "{template}"')
    connection.settings_dict["NAME"] = args.db
    measure(args.cases, args.overdue)


def build(n_cases: int, n_overdue: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from branches.models import Branch, BranchLevel
    from branches.roles import Role, ensure_role_groups
    from companies.models import Enterprise
    from onboarding.models import OnboardingCase, StageVisit

    t0 = time.perf_counter()
    ensure_role_groups()  # an empty, freshly created database: nothing to clear
    User = get_user_model()
    rng = random.Random(6)
    with transaction.atomic():
        ho = Branch.objects.create(code="HO", name="总行", level=BranchLevel.HEAD_OFFICE)
        subs = []
        for t in range(2):
            tier1 = Branch.objects.create(code=f"T{t}", name=f"分行{t}", level=BranchLevel.BRANCH, parent=ho)
            sup = User.objects.create(username=f"sup{t}", email=f"sup{t}@bank.example", branch=tier1)
            sup.groups.add(Group.objects.get(name=Role.BRANCH_SUPERVISOR))
            for s in range(2):
                sub = Branch.objects.create(
                    code=f"T{t}S{s}", name=f"支行{t}{s}", level=BranchLevel.SUB_BRANCH, parent=tier1
                )
                subs.append(sub)
        approver = User.objects.create(username="approver", email="approver@bank.example", branch=ho)
        approver.groups.add(Group.objects.get(name=Role.HEAD_OFFICE_APPROVER))
        ams = []
        for i, sub in enumerate(subs):
            for k in range(5):
                am = User.objects.create(username=f"am{i}_{k}", email=f"am{i}_{k}@bank.example", branch=sub)
                am.groups.add(Group.objects.get(name=Role.ACCOUNT_MANAGER))
                ams.append(am)
        enterprises = Enterprise.objects.bulk_create(
            Enterprise(
                name=f"基准企业{i}",
                uscc=f"BENCH{i:013d}",
                legal_rep_name="张三",
                legal_rep_id_number="110101199003070000",
                handler_name="张三",
                handler_id_number="110101199003070000",
                contact_email=f"ent{i}@company.example",
                branch=subs[i % len(subs)],
            )
            for i in range(1000)
        )
    now = timezone.now()
    overdue = set(rng.sample(range(n_cases), n_overdue))
    for start in range(0, n_cases, 10_000):
        with transaction.atomic():
            cases = []
            for i in range(start, min(start + 10_000, n_cases)):
                ent = enterprises[i % len(enterprises)]
                cases.append(
                    OnboardingCase(
                        reference=f"ZL-B-{i:08d}",
                        enterprise=ent,
                        branch_id=ent.branch_id,
                        account_manager=ams[i % len(ams)],
                        state="branch_intake",
                        created_by=ams[i % len(ams)],
                        created_at=now,
                        updated_at=now,
                    )
                )
            cases = OnboardingCase.objects.bulk_create(cases, batch_size=5000)
            visits = []
            for i, case in zip(range(start, start + len(cases)), cases, strict=True):
                if i in overdue:
                    due = now - dt.timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 600))
                else:
                    due = now + dt.timedelta(days=rng.randint(1, 30))
                visits.append(
                    StageVisit(
                        case=case,
                        stage="branch_intake",
                        entered_at=due - dt.timedelta(days=7),
                        due_at=due,
                        holder_party="bank",
                        holder_role=Role.ACCOUNT_MANAGER,
                    )
                )
            StageVisit.objects.bulk_create(visits, batch_size=5000)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE onboarding_onboardingcase c SET current_visit_id = v.id FROM onboarding_stagevisit v "
            "WHERE v.case_id = c.id AND v.left_at IS NULL"
        )
        cur.execute("ANALYZE")
    print(f"built {n_cases} cases ({n_overdue} overdue) in {time.perf_counter() - t0:.1f} s")


def measure(n_cases: int, n_overdue: int) -> None:
    from django.conf import settings
    from django.db import connection
    from django.db.backends.signals import connection_created
    from django.utils import timezone

    from reminders import services
    from reminders.models import Reminder

    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    now = timezone.now()
    raw_sql = (
        "SELECT id, case_id, stage, due_at FROM onboarding_stagevisit "
        "WHERE left_at IS NULL AND paused_at IS NULL AND due_at < %s"
    )

    def raw_select() -> tuple[float, int]:
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute(raw_sql, [now])
            rows = cur.fetchall()
        return time.perf_counter() - t, len(rows)

    raw_select()  # warm the cache the same way for both
    raw_time, raw_rows = raw_select()

    count = 0

    def counter(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    # Count statements with an execute wrapper rather than CaptureQueriesContext, whose debug
    # cursor would render every parameter array into SQL text and skew the time; on every
    # connection, the sweep's parts' own included (REMINDER_SWEEP_PARTITIONS).
    def wrap(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
        connection.execute_wrappers.append(counter)

    connection_created.connect(wrap)
    connection.execute_wrappers.append(counter)

    def sweep() -> tuple[float, int, services.SweepResult]:
        nonlocal count
        count = 0
        t = time.perf_counter()
        result = services.reminders_sweep(now=now)
        return time.perf_counter() - t, count, result

    first_time, first_queries, first = sweep()
    second_time, second_queries, second = sweep()
    assert second.claimed == [], "the second sweep must find nothing new"
    assert Reminder.objects.count() == len(first.claimed)

    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + raw_sql, [now])
        plan = " / ".join(row[0].strip() for row in cur.fetchall()[:2])

    print(
        f"PostgreSQL, {n_cases} open cases, {n_overdue} overdue; {len(first.claimed)} reminders claimed; "
        f"{settings.REMINDER_SWEEP_PARTITIONS} parts at once (REMINDER_SWEEP_PARTITIONS)"
    )
    print(f"{'':28}{'wall time':>12}{'queries':>10}{'rows':>10}{'× raw select':>14}")
    print(f"{'raw SQL select of overdue':28}{raw_time * 1000:>10.1f}ms{1:>10}{raw_rows:>10}{1:>14.1f}")
    print(
        f"{'first sweep':28}{first_time * 1000:>10.1f}ms{first_queries:>10}{first.overdue:>10}"
        f"{first_time / raw_time:>14.1f}"
    )
    print(
        f"{'second sweep (nothing new)':28}{second_time * 1000:>10.1f}ms{second_queries:>10}{second.overdue:>10}"
        f"{second_time / raw_time:>14.1f}"
    )
    print(f"plan: {plan}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    first_ok, second_ok = first_time < 10, second_time < 0.5
    print(f"target: first sweep < 10 s: {'holds' if first_ok else 'MISSED'} ({first_time:.2f} s)")
    print(f"target: idle re-sweep < 0.5 s: {'holds' if second_ok else 'MISSED'} ({second_time:.2f} s)")
    print(f"targets: {'all hold' if first_ok and second_ok else 'not all hold'}")


if __name__ == "__main__":
    main()
