"""A task for tests/test_fault_worker_killed.py, loaded by the worker it starts (`-I`).

Each run counts itself in Redis; the first run waits (to be killed mid-task), a later run
finishes and counts a completion. Nothing touches the database.
"""

from __future__ import annotations

import time

import redis

from config.celery import app


@app.task(name="tests.fault_tasks.slow_once", acks_late=True, reject_on_worker_lost=True)
def slow_once(redis_url: str, key: str) -> int:
    client = redis.Redis.from_url(redis_url)
    attempt = int(client.incr(f"{key}:attempts"))
    client.expire(f"{key}:attempts", 600)
    if attempt == 1:
        time.sleep(300)  # killed before this ends
    client.incr(f"{key}:done")
    client.expire(f"{key}:done", 600)
    return attempt
