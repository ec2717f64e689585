"""A worker killed mid-task: the task is redelivered to another worker after the visibility
timeout, runs to the end once, and nothing is lost.

A real `celery worker` process (prefork) on the real Redis, on a private queue, is started by
this test and killed with SIGKILL (its own process group only). The visibility timeout is set
to 5 s for the run so the test takes seconds; production uses CELERY_VISIBILITY_TIMEOUT (50 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from tests.processes import wait_for

ROOT = Path(__file__).resolve().parent.parent
# FAULT_TEST_VISIBILITY=50 runs it with the production timeout (about a minute longer).
VISIBILITY = int(os.environ.get("FAULT_TEST_VISIBILITY", "5"))


def start_worker(redis_url: str, queue: str, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
        "CELERY_TASK_TIME_LIMIT": str(VISIBILITY - 1),
        "CELERY_UNACKED_RESTORE_SECONDS": "1",
        "ALLOW_INSECURE_DEV_KEY": "true",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "config",
            "worker",
            "-I",
            "tests.fault_tasks",
            "-Q",
            queue,
            "-n",
            f"{name}-{queue}@%h",
            "--pool",
            "prefork",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed together, nothing else
    )


def stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    worker.wait(timeout=30)


def test_production_settings_redeliver_within_a_minute_and_never_while_running():
    # Production's broker is Redis (the embedded SQLite broker of `./scripts/run` takes no options).
    options = settings.REDIS_BROKER_TRANSPORT_OPTIONS
    if settings.CELERY_BROKER_URL.startswith("redis"):
        assert options == settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert options["visibility_timeout"] == settings.CELERY_VISIBILITY_TIMEOUT <= 60
    assert settings.CELERY_TASK_TIME_LIMIT < settings.CELERY_VISIBILITY_TIMEOUT
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 10


@pytest.mark.redis
def test_a_task_of_a_killed_worker_is_redelivered_and_done_once(redis_url):
    queue = f"test-fault-{uuid.uuid4().hex[:10]}"
    key = f"test-fault:{queue}"
    client = redis.Redis.from_url(redis_url)
    producer = Celery("fault-test", broker=redis_url)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        first = start_worker(redis_url, queue, "first")
        workers.append(first)
        # Publish once the worker has bound its queue: Redis drops messages to unbound queues.
        assert wait_for(lambda: client.exists(f"_kombu.binding.{queue}"), 60), "the worker did not start"
        producer.send_task("tests.fault_tasks.slow_once", args=[redis_url, key], queue=queue)
        assert wait_for(lambda: client.get(f"{key}:attempts") == b"1", 60), "the first worker never started the task"
        stop(first)  # SIGKILL the whole worker: nobody acknowledges or rejects the message
        killed_at = time.monotonic()
        workers.append(start_worker(redis_url, queue, "second"))
        assert wait_for(lambda: client.get(f"{key}:done") == b"1", VISIBILITY + 60), "the task was not redelivered"
        redelivered_after = time.monotonic() - killed_at
        time.sleep(VISIBILITY + 2)  # nothing else arrives later
        assert client.get(f"{key}:attempts") == b"2" and client.get(f"{key}:done") == b"1"
        assert redelivered_after < VISIBILITY + 20
        print(f"redelivered {redelivered_after:.1f} s after the kill (visibility timeout {VISIBILITY} s)")
    finally:
        for worker in workers:
            stop(worker, signal.SIGTERM if worker.poll() is None else signal.SIGKILL)
        client.delete(f"{key}:attempts", f"{key}:done", queue, f"_kombu.binding.{queue}")
        producer.close()
