"""What a computed page costs, in one process: wall time, CPU time, SQL time and queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_pages \\
        .venv/bin/python bench/profile_pages.py [--only "case page,dashboard"] [--repeat 15] \\
        [--profile "case page (account manager)"] [--explain "case page (account manager)"]

DEBUG off, templates cached as in production, the user cache on when REDIS_URL is set (as
deployed): each request computes its page (there is no page cache). The pages are the frames
and bench/pages.py's (`pages_for`: the same users and URLs, chosen the same way on every
database, the portal's and the live links' included). Times are medians over `--repeat`
requests after two warm-ups. CPU time is this process's (Python, templates, the driver); on a
loaded machine it moves less than wall time, which is why it is printed beside it. SQL time is
measured around each statement on the client side (planning included).

`--profile NAME` prints the 30 heaviest functions of that page (cProfile, cumulative; `--sort
tottime` for the time spent in each function itself; PROFILE_CALLEES=name: what that function
called, and for how long).
`--explain NAME` prints `EXPLAIN (ANALYZE, BUFFERS, SUMMARY)` of that page's five slowest
statements, planning time included (PostgreSQL only).

This is the measuring tool for issue 26's work; the figures the README quotes come from
bench/pages.py (gunicorn under wrk) and bench/mix.py (a day's mix of users).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup() -> None:
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["BENCH_TRIVIAL_VIEW"] = "true"
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    import django

    django.setup()
    from config.celery import app

    app.conf.broker_url = "memory://"


class SqlTimer:
    """Times every statement on the connection (client side: planning, execution, transfer)."""

    def __init__(self) -> None:
        self.statements: list[tuple[float, str, Any]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((time.perf_counter() - t0, sql, params))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated parts of page names")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", default="", help="a page name: print its cProfile")
    parser.add_argument("--sort", default="cumulative", help="cProfile's order: cumulative or tottime")
    parser.add_argument("--explain", default="", help="a page name: EXPLAIN its slowest statements")
    args = parser.parse_args()
    _setup()

    from django.db import connection
    from django.test import Client

    from bench.pages import API_CLIENTS, CSRF_COOKIE, Page, api_tokens, pages_for, sessions

    pages = [
        Page("trivial view (all middleware)", "ho_approver", "/bench/trivial"),
        Page("frame, staff (empty base.html)", "am_bjhd_s1", "/bench/frame"),
        Page("frame, portal (empty portal base)", "ent01", "/bench/frame"),
    ] + pages_for()
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        pages = [p for p in pages if any(w in p.name for w in wanted)]
    keys = sessions(sorted({p.user for p in pages if p.user not in API_CLIENTS}))
    keys.update(api_tokens(sorted({p.user for p in pages if p.user in API_CLIENTS})))
    load = os.getloadavg()[0]
    print(f"load {load:.1f}; {args.repeat} requests per page after 2 warm-ups")
    print(f"{'page':<42} {'wall p50':>9} {'cpu p50':>8} {'sql p50':>8} {'queries':>7} {'KB':>6}")
    for page in pages:
        if page.user in API_CLIENTS:
            client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=keys[page.user])
        else:
            client = Client(HTTP_HOST="127.0.0.1")
            client.cookies["sessionid"] = keys[page.user]
            client.cookies["csrftoken"] = CSRF_COOKIE
        walls, cpus, sqls, n, size = [], [], [], 0, 0
        timer = SqlTimer()
        for i in range(args.repeat + 2):
            timer.statements = []
            w0, c0 = time.perf_counter(), time.process_time()
            with connection.execute_wrapper(timer):
                response = client.get(page.url)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if response.status_code != 200:
                print(f"{page.name}: {page.url} answered {response.status_code}")
                break
            if i >= 2:
                walls.append(wall * 1000)
                cpus.append(cpu * 1000)
                sqls.append(sum(s[0] for s in timer.statements) * 1000)
                n, size = len(timer.statements), len(response.content) // 1024
        if not walls:
            continue
        print(
            f"{page.name:<42} {statistics.median(walls):>7.1f}ms {statistics.median(cpus):>6.1f}ms "
            f"{statistics.median(sqls):>6.1f}ms {n:>7} {size:>6}",
            flush=True,
        )
        if args.explain and args.explain == page.name and connection.vendor == "postgresql":
            for took, sql, params in sorted(timer.statements, key=lambda s: -s[0])[:5]:
                print(f"\n-- {took * 1000:.1f} ms on the client\n{sql[:400]}")
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, SUMMARY) " + sql, params)
                    print("\n".join(row[0] for row in cursor.fetchall()))
        if args.profile and args.profile == page.name:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(5):
                client.get(page.url)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(args.sort)
            stats.print_stats(int(os.environ.get("PROFILE_LINES", "30")))
            if os.environ.get("PROFILE_CALLEES"):  # a function's name: what it called, and for how long
                stats.print_callees(os.environ["PROFILE_CALLEES"])


if __name__ == "__main__":
    main()
