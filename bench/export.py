"""Benchmark of the case-list export (CSV and Excel) on PostgreSQL: time and memory for many rows.

    .venv/bin/python bench/export.py [--cases 100000] [--db transfers_bench] [--reset]

Builds (once; `--reset` rebuilds) a database with a head office, 2 tier-1 branches and 4
sub-branches and `--cases` cases from the demo-history generator (`analytics/history.py`),
then exports the whole list as head office: the list's export link through the real view (it
counts the list and, above EXPORT_INLINE_ROWS rows, answers with the page that offers the
background file), then the file as the worker writes it (`transfers.export_jobs.export_write`):
total time, bytes, rows, and the growth of the process's peak resident memory (VmHWM, which
starts afresh in each process), once as CSV and once as Excel, each in a fresh process. A list
held in memory would grow with the rows; a stream stays flat: compare `--db
transfers_bench_small --cases 2000` with the default. `--db bench_pages` measures
`bench/pages.py`'s 100,053 cases.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", default="transfers_bench")
    parser.add_argument("--reset", action="store_true")
    parser.add_argument("--measure", choices=["csv", "xlsx"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        setup(args.db)
        measure(args.measure)
        return

    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone()
        if exists and args.reset:
            conn.execute(f'DROP DATABASE "{args.db}"')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.db}"')

    setup(args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from onboarding.models import OnboardingCase

    if OnboardingCase.objects.count() < args.cases:
        build(args.cases - OnboardingCase.objects.count())
    print(f"cases {OnboardingCase.objects.count()}")
    for fmt in ("csv", "xlsx"):
        subprocess.run([sys.executable, __file__, "--db", args.db, "--measure", fmt], check=True)


def setup(db: str) -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db}"
    os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def build(n: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from analytics import history
    from branches.models import Branch, BranchLevel
    from branches.roles import Role, ensure_role_groups

    ensure_role_groups()
    User = get_user_model()

    def person(username: str, role: str, branch: Branch) -> None:
        u, _ = User.objects.get_or_create(username=username, defaults={"branch": branch, "display_name": username})
        u.groups.add(Group.objects.get(name=role))

    ho, _ = Branch.objects.get_or_create(code="HO", defaults={"name": "总行", "level": BranchLevel.HEAD_OFFICE})
    person("ho_approver", Role.HEAD_OFFICE_APPROVER, ho)
    person("ho_tech", Role.TECH_REVIEWER, ho)
    for t in range(2):
        tier1, _ = Branch.objects.get_or_create(
            code=f"T{t}", defaults={"name": f"第{t + 1}分行", "level": BranchLevel.BRANCH, "parent": ho}
        )
        person(f"sup_{t}", Role.BRANCH_SUPERVISOR, tier1)
        for s in range(2):
            sub, _ = Branch.objects.get_or_create(
                code=f"T{t}S{s}",
                defaults={"name": f"第{t + 1}分行第{s + 1}支行", "level": BranchLevel.SUB_BRANCH, "parent": tier1},
            )
            person(f"am_{t}{s}", Role.ACCOUNT_MANAGER, sub)
    t0 = time.perf_counter()
    made = history.generate(n=n, seed=1)
    print(f"built {made} cases in {time.perf_counter() - t0:.0f} s")


def peak_rss_kb() -> int:
    """The process's peak resident memory (ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(fmt: str) -> None:
    """The list page's export link as head office (counts the list; above EXPORT_INLINE_ROWS rows it
    answers with the page that offers the background file), then the worker's writing of the file."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.files.storage import storages
    from django.test import RequestFactory

    from transfers import export_jobs, views
    from transfers.models import ExportJob

    user = get_user_model().objects.select_related("branch").get(username="ho_approver")
    for _ in range(2):  # the second as a warm web worker answers it (templates compiled)
        request = RequestFactory().get(f"/transfers/export.{fmt}")
        request.user = user
        request.session = SessionStore()
        t0 = time.perf_counter()
        response = views.export(request, fmt)
        asked = time.perf_counter() - t0
    if response.streaming:  # a list of EXPORT_INLINE_ROWS rows or fewer: streamed in the request
        size = sum(len(chunk) for chunk in response.streaming_content)
        print(f"{fmt:<5} streamed in the request: {time.perf_counter() - t0:6.1f} s   {size / 1e6:6.1f} MB")
        return
    job = ExportJob(created_by=user, file_format=fmt, filters="", language=settings.LANGUAGE_CODE)
    rss0 = peak_rss_kb()
    t0 = time.perf_counter()
    stored, _sha256, size, rows = export_jobs.export_write(job)  # what the worker runs (the job unsaved)
    total = time.perf_counter() - t0
    rss1 = peak_rss_kb()
    storages["documents"].delete(stored)  # the bench's file, not a reader's
    print(
        f"{fmt:<5} link (count, page) {asked * 1000:5.1f} ms   worker: {rows:,} rows in {total:6.1f} s   "
        f"{size / 1e6:6.1f} MB   peak RSS {rss0 / 1024:5.0f} MB -> {rss1 / 1024:5.0f} MB (+{(rss1 - rss0) / 1024:.0f} MB)"
    )


if __name__ == "__main__":
    main()
