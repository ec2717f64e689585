"""Loaded with `-p tests.testenv` before Django starts: settings the test run relies on.

Several processes at once (`pytest -n 2`, pytest-xdist): each worker (`gw0`, `gw1`, …) gets
a test database of its own (pytest-django suffixes the name: `test_<db>_gw0`), its own
temporary folders (pytest's basetemp) and, here, a Redis database of its own, since the
suite empties its Redis database before every test (`cache.clear()` is FLUSHDB) and the
workers it starts read Celery queues and `unacked` lists kept per database. Worker N uses
the N-th number of REDIS_TEST_DBS (comma-separated, e.g. `15,13`), or without it the
database of REDIS_URL plus N. Servers the tests start listen on ports the system hands out
(port 0), never on a fixed one.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")
# Tasks run inline unless a test starts a real worker.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# The user cache (config/usercache.py) on, as in production: process-local without Redis,
# which is right for the one process each test worker is.
os.environ.setdefault("USER_CACHE", "true")

# The Redis the `redis` tests use when REDIS_URL is not set (tests/conftest.py `redis_url`).
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def worker_redis_url(url: str) -> str:
    """`url` with the Redis database of this test process (itself outside pytest-xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return url
    index = int(worker.removeprefix("gw"))
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    listed = [int(n) for n in os.environ.get("REDIS_TEST_DBS", "").split(",") if n.strip()]
    dbs = listed or list(range(base, 16))
    if index >= len(dbs):
        raise RuntimeError(
            f"test worker {worker} has no Redis database of its own: list one per worker in "
            f"REDIS_TEST_DBS (now {os.environ.get('REDIS_TEST_DBS', 'unset')!r}), or run fewer workers (-n)"
        )
    return urlunsplit(parts._replace(path=f"/{dbs[index]}"))


if os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"])
