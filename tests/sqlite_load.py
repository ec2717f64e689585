"""The demo's SQLite file under load: people pressing transitions and posting messages at once
while a worker process writes too. Counts the 500s and the "database is locked" errors.

Run by tests/test_sqlite_load.py in a process of its own (the settings are read as the demo reads
them, from DATABASE_URL naming a file):

    python -m tests.sqlite_load prepare          # migrate and build the cases
    python -m tests.sqlite_load worker SECONDS   # write as the Celery worker does, in a loop
    python -m tests.sqlite_load web THREADS ROUNDS  # the people, one thread each (as runserver)

With LOAD_AS_BEFORE=true the connections are opened as before the fix (deferred transactions,
a busy timeout only), to show the load does find the error.

`web` prints one JSON line: {"requests", "ok", "server_errors", "locked_logs", "other"} (server
errors: 500s and the 503 that config/middleware.py answers for an OperationalError; locked_logs:
log records naming "database is locked"); `worker` prints {"worker_rounds", "worker_locked"}.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

if os.environ.get("LOAD_AS_BEFORE") == "true":
    # As config/settings.py was before issue 25: deferred transactions, a busy timeout only.
    from django.db import connections

    connections.settings["default"]["OPTIONS"] = {"timeout": 20}

from django.core.management import call_command  # noqa: E402
from django.db import OperationalError, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.signals import template_rendered  # noqa: E402

CASES_PER_THREAD = 1


def prepare(threads: int) -> dict[str, Any]:
    from tests.factories import World

    call_command("migrate", "--no-input", verbosity=0)
    from onboarding.states import State

    world = World()
    # One case per thread to suspend and resume, and one case everyone writes messages on.
    ids = [str(world.case(State.JOINT_TESTING).public_id) for _ in range(threads)]
    shared = str(world.case(State.JOINT_TESTING).public_id)
    return {"cases": ids, "shared": shared}


def worker(seconds: float) -> None:
    """What the Celery worker writes: the overdue sweep and the outbox's e-mails, again and again."""
    from notices import outbox
    from notices.models import OutboxEmail
    from reminders import services

    errors = 0
    rounds = 0

    def stop(*_: Any) -> None:
        raise SystemExit

    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                services.reminders_sweep()
                ids = list(OutboxEmail.objects.filter(sent_at__isnull=True).values_list("pk", flat=True))
                outbox.outbox_send(ids=ids)
                rounds += 1
            except OperationalError:
                errors += 1
                traceback.print_exc()
            time.sleep(0.05)
    finally:
        print(json.dumps({"worker_rounds": rounds, "worker_locked": errors}), flush=True)


def web(threads: int, rounds: int, cases: list[str], shared: str) -> None:
    from accounts.models import User
    from audit.mfa import mfa_mark, totp_enrol
    from tests.factories import TOTP_SECRET

    # The test client keeps the templates it rendered: not needed here, and not thread-safe.
    template_rendered.receivers = []
    counts = {"requests": 0, "ok": 0, "server_errors": 0, "locked_logs": 0, "other": 0}
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def count(response: Any) -> None:
        with lock:
            counts["requests"] += 1
            if response.status_code >= 500:
                # A 500, or the 503 config/middleware.py answers for an OperationalError.
                counts["server_errors"] += 1
            elif response.status_code in (200, 302):
                counts["ok"] += 1
            else:
                counts["other"] += 1
                print("status", response.status_code, response.get("Location", ""), file=sys.stderr)

    def person(i: int) -> None:
        try:
            client = Client(raise_request_exception=False, SERVER_NAME="127.0.0.1")
            staff = User.objects.get(username="am_a")
            customer = User.objects.get(username="customer_x")
            client.force_login(staff)
            totp_enrol(staff, TOTP_SECRET)
            session = client.session
            mfa_mark(session, staff)
            session.save()
            portal = Client(raise_request_exception=False, SERVER_NAME="127.0.0.1")
            portal.force_login(customer)
            case = cases[i]
            connection.close()
            barrier.wait()
            for r in range(rounds):
                page = client.get(f"/cases/{case}/")
                count(page)
                found = re.search(r'name="version" value="(\d+)"', page.content.decode())
                version = found.group(1) if found else 0
                name = "suspend" if r % 2 == 0 else "resume"
                count(
                    client.post(
                        f"/cases/{case}/transition/{name}/",
                        {"version": version, "reason": "负载测试", "confirm": "on"},
                    )
                )
                count(portal.post(f"/portal/cases/{shared}/messages/", {"body": f"第{i}号第{r}条"}))
                count(client.post(f"/portal/staff/cases/{shared}/messages/", {"body": f"回复{i}-{r}"}))
        except Exception:
            traceback.print_exc()
            with lock:
                counts["other"] += 1
        finally:
            connection.close()

    class Locked(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage() + (repr(record.exc_info[1]) if record.exc_info else "")
            if "database is locked" in text:
                with lock:
                    counts["locked_logs"] += 1

    logging.getLogger().addHandler(Locked(level=logging.WARNING))
    workers = [threading.Thread(target=person, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    print(json.dumps(counts))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "prepare":
        print(json.dumps(prepare(int(sys.argv[2]))))
    elif command == "worker":
        worker(float(sys.argv[2]))
    elif command == "web":
        plan = json.loads(os.environ["LOAD_CASES"])
        web(int(sys.argv[2]), int(sys.argv[3]), plan["cases"], plan["shared"])
