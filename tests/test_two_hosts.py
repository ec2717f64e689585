"""Two web processes and two workers on one PostgreSQL and one Redis, as in production.

The README's production section runs two gunicorn processes and two Celery workers against
one database and one Redis. This test does the same on this machine: it starts (as its own
processes, each in its own process group, and stops only those) two gunicorn processes on
two free ports and two `celery worker` processes on a private queue, all pointed at the test
database and the test Redis, and moves a case through both web processes: the account
manager submits it through the first, the branch supervisor reads it and endorses it through
the second, the account manager sees the endorsement through the first; the mail each step
queued in the outbox is sent by one of the workers, once.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from django.test import Client

from notices.models import OutboxEmail
from onboarding.models import CaseEvent
from onboarding.states import State
from tests.factories import fill_assessment
from tests.processes import BIN
from tests.processes import browser_session as _session
from tests.processes import database_url as _database_url
from tests.processes import free_port as _free_port
from tests.processes import ready as _ready
from tests.processes import start as _start
from tests.processes import stop as _stop
from tests.processes import transition as _transition
from tests.processes import wait_for as _wait


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_case_moves_through_two_web_processes_and_two_workers(world, redis_url, tmp_path) -> None:
    case = world.case(State.BRANCH_INTAKE)  # walked here in this process (its mail sent inline)
    fill_assessment(case, world.am_a)  # intake complete: the account manager may submit it
    first_new_mail = (OutboxEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    queue = f"two-hosts-{uuid.uuid4().hex[:10]}"
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),  # the test database, which this test's commits fill
        "MIGRATE_DATABASE_URL": "",  # (nothing is migrated: the test database is ready)
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": queue,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "ALLOW_INSECURE_DEV_KEY": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
        "LOG_LEVEL": "INFO",
        "GUNICORN_WORKERS": "1",
    }
    ports = [_free_port(), _free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i, port in enumerate(ports, start=1):
            web_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
            processes.append(
                _start(
                    [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
                    web_env,
                    tmp_path / f"web{i}.log",
                )
            )
        for i in (1, 2):
            processes.append(
                _start(
                    [
                        str(BIN / "celery"),
                        "-A",
                        "config",
                        "worker",
                        "-Q",
                        queue,
                        "-n",
                        f"w{i}-{queue}@%h",
                        "--pool",
                        "solo",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel",
                        "INFO",
                    ],
                    env,
                    tmp_path / f"worker{i}.log",
                )
            )
        for base in bases:
            _wait(lambda base=base: _ready(base), 90, f"{base}/readyz")
        for i in (1, 2):
            _wait(lambda i=i: "ready" in (tmp_path / f"worker{i}.log").read_text(errors="replace"), 90, f"worker {i}")

        am = _session(Client(), world.am_a)
        supervisor = _session(Client(), world.supervisor)

        # Web process 1: the account manager submits the case for approval.
        response = _transition(am, bases[0], case, "submit_for_approval")
        assert response.status_code == 302, response.status_code
        case.refresh_from_db()
        assert case.state == State.HEAD_OFFICE_APPROVAL

        # Web process 2 reads what process 1 wrote, and the supervisor endorses it there.
        page = supervisor.get(f"{bases[1]}/cases/{case.public_id}/", timeout=30).text
        assert "总行立项审批" in page and "上报立项审批" in page
        response = _transition(supervisor, bases[1], case, "endorse")
        assert response.status_code == 302, response.status_code
        assert CaseEvent.objects.filter(case=case, name="endorse").count() == 1

        # Back on web process 1 the account manager sees the endorsement.
        page = am.get(f"{bases[0]}/cases/{case.public_id}/", timeout=30).text
        assert "分行审核通过" in page

        # Both steps queued mail in the outbox; the workers send each row once.
        new_mail = OutboxEmail.objects.filter(pk__gte=first_new_mail)
        assert new_mail.count() >= 2
        _wait(lambda: not new_mail.filter(sent_at__isnull=True).exists(), 90, "the workers to send the outbox")
        assert set(new_mail.values_list("attempts", flat=True)) == {1}
        sent = "".join(f.read_text(errors="replace") for f in mail_dir.iterdir())
        assert sent.count("Message-ID:") == new_mail.count()
        logs = [(tmp_path / f"worker{i}.log").read_text(errors="replace") for i in (1, 2)]
        assert sum(log.count("delivery.send") for log in logs) >= 1
    except AssertionError:
        # What the processes said: a 500 from a web process is explained in its own log.
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name} (last 60 lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-60:]))
        raise
    finally:
        for process in processes:
            _stop(process)
    assert all(p.poll() is not None for p in processes)
