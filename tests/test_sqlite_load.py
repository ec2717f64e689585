"""The demo on SQLite under load (issue 25): transitions and messages from several people at once
while the worker writes too answer no 500/503 and raise no "database is locked".

The app runs in processes of its own against a file database, configured by config/settings.py
from DATABASE_URL exactly as `./scripts/run` is (tests/sqlite_load.py): threads of the test
client as runserver's threads, and a second process writing as the Celery worker does. The same
load with the connections opened as before the fix (deferred transactions) does fail: the test
would notice the fix being undone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8
ROUNDS = 10

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3", reason="the demo's SQLite only"
)


def _env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "MIGRATE_DATABASE_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{db}",
        DEBUG="true",
        ALLOW_INSECURE_DEV_KEY="true",
        CELERY_TASK_ALWAYS_EAGER="true",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DJANGO_SETTINGS_MODULE="config.settings",
        **extra,
    )
    return env


def _last_json(out: bytes) -> dict[str, Any]:
    return json.loads(out.decode().strip().splitlines()[-1])


def _load(template: Path, tmp: Path, plan: str, **extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    db = tmp / f"load-{len(list(tmp.iterdir()))}.sqlite3"
    shutil.copy(template, db)
    env = _env(db, LOAD_CASES=plan, **extra)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.sqlite_load", "worker", "120"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        web = subprocess.run(
            [sys.executable, "-m", "tests.sqlite_load", "web", str(THREADS), str(ROUNDS)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=300,
            check=True,
        )
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=30)
    return _last_json(web.stdout), _last_json(out)


def test_transitions_and_messages_under_load_never_find_the_database_locked(tmp_path):
    template = tmp_path / "template.sqlite3"
    prepared = subprocess.run(
        [sys.executable, "-m", "tests.sqlite_load", "prepare", str(THREADS)],
        cwd=ROOT,
        env=_env(template),
        capture_output=True,
        timeout=300,
        check=True,
    )
    plan = prepared.stdout.decode().strip().splitlines()[-1]
    runs = tmp_path / "runs"
    runs.mkdir()

    web, worker = _load(template, runs, plan)
    # 8 people × 10 rounds × (case page, transition, customer's message, staff's reply).
    assert web == {"requests": THREADS * ROUNDS * 4, "ok": THREADS * ROUNDS * 4, "server_errors": 0,
                   "locked_logs": 0, "other": 0}, web  # fmt: skip
    assert worker["worker_locked"] == 0 and worker["worker_rounds"] > 0, worker

    # The refused side: the same load on connections opened as before fails.
    before_web, _ = _load(template, runs, plan, LOAD_AS_BEFORE="true")
    assert before_web["server_errors"] > 0 and before_web["locked_logs"] > 0, before_web
