"""What the pages' statements cost on PostgreSQL by the way parameters are bound, in one process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_pages \\
        .venv/bin/python bench/statement_cost.py [--only "case page,dashboard"] [--rounds 3]

Each page of bench/profile_pages.py is requested twice and the second request's reads (SELECT,
WITH) are kept with their parameters. Then, round after round and in alternating order, they are
sent again on a fresh connection in each way of binding (`--modes`):

- `client`: psycopg's ClientCursor, the statement mogrified in Python, parsed and planned by the
  server every time (Django's default, and this project's: config/settings.py);
- `server`: parameters sent apart, never prepared;
- `prepared`: sent apart and prepared after 5 sends, PostgreSQL's plan_cache_mode `auto` (a
  generic plan once its estimate is below the custom plans' average);
- `prepared-custom`: prepared, `force_custom_plan` (parsed once, planned for each execution);
- `prepared-generic`: prepared, `force_generic_plan` (the plan made without the values: what
  `auto` may switch to). Not in the default modes.

Each statement is sent `--sends` times; the sends after the sixth count (prepared by then).
Printed per page: the sum over its statements of the median wall time and of the median CPU time
of this process. README, "Statements: bound on the client, not prepared", quotes its figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = {
    "client": {"server_side_binding": False, "prepare_threshold": None},
    "server": {"server_side_binding": True, "prepare_threshold": None},
    "prepared": {"server_side_binding": True, "prepare_threshold": 5},
    "prepared-custom": {
        "server_side_binding": True,
        "prepare_threshold": 5,
        "options": "-c plan_cache_mode=force_custom_plan",
    },
    "prepared-generic": {
        "server_side_binding": True,
        "prepare_threshold": 5,
        "options": "-c plan_cache_mode=force_generic_plan",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated parts of page names")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sends", type=int, default=11)
    parser.add_argument("--modes", default="client,server,prepared,prepared-custom")
    args = parser.parse_args()
    from bench.profile_pages import _setup

    _setup()
    from django.db import connection
    from django.test import Client

    from bench.pages import CSRF_COOKIE, Page, pages_for, sessions

    pages = [
        Page("frame, staff (empty base.html)", "am_bjhd_s1", "/bench/frame"),
        Page("frame, portal (empty portal base)", "ent01", "/bench/frame"),
    ] + pages_for()
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        pages = [p for p in pages if any(w in p.name for w in wanted)]
    keys = sessions(sorted({p.user for p in pages}))
    reads: dict[str, list[tuple[str, Any]]] = {}
    for page in pages:
        client = Client(HTTP_HOST="127.0.0.1")
        client.cookies["sessionid"] = keys[page.user]
        client.cookies["csrftoken"] = CSRF_COOKIE
        seen: list[tuple[str, Any]] = []

        def keep(execute: Any, sql: str, params: Any, many: bool, context: Any, seen: Any = seen) -> Any:
            if not many and sql.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
                seen.append((sql, params))
            return execute(sql, params, many, context)

        client.get(page.url)  # warm-up: the user's copy, the session
        with connection.execute_wrapper(keep):
            client.get(page.url)
        reads[page.name] = seen
    base_options = dict(connection.settings_dict["OPTIONS"])
    modes = [m.strip() for m in args.modes.split(",")]
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    failed: dict[str, set[str]] = {}
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else reversed(modes):
            connection.close()
            options = {k: v for k, v in base_options.items() if k not in {"server_side_binding", "prepare_threshold"}}
            options.update(MODES[mode])
            connection.settings_dict["OPTIONS"] = options
            connection.ensure_connection()
            for name, statements in reads.items():
                w_total = c_total = 0.0
                for sql, params in statements:
                    ws, cs = [], []
                    for i in range(args.sends):
                        w0, c0 = time.perf_counter(), time.process_time()
                        try:
                            with connection.cursor() as cursor:
                                cursor.execute(sql, params)
                                cursor.fetchall()
                        except Exception as exc:
                            failed.setdefault(mode, set()).add(f"{name}: {type(exc).__name__}: {exc}"[:300])
                            break
                        if i >= 6:
                            ws.append(time.perf_counter() - w0)
                            cs.append(time.process_time() - c0)
                    if ws:
                        w_total += statistics.median(ws)
                        c_total += statistics.median(cs)
                wall.setdefault((name, mode), []).append(w_total * 1000)
                cpu.setdefault((name, mode), []).append(c_total * 1000)
    connection.close()
    connection.settings_dict["OPTIONS"] = base_options
    print("SQL wall ms / client CPU ms per page (sum of per-statement medians; median over rounds)")
    print(f"{'page':<42} {'n':>3} " + " ".join(f"{m:>17}" for m in modes))
    for name, statements in reads.items():
        cells = [f"{statistics.median(wall[(name, m)]):>8.2f}/{statistics.median(cpu[(name, m)]):>7.2f}" for m in modes]
        print(f"{name:<42} {len(statements):>3} " + " ".join(f"{c:>17}" for c in cells), flush=True)
    for mode, errors in failed.items():
        for error in sorted(errors):
            print(f"FAILED ({mode}) {error}")


if __name__ == "__main__":
    main()
