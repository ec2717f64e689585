"""Gunicorn settings: `.venv/bin/gunicorn -c config/gunicorn.py config.wsgi`.

Every value is an environment variable, so two hosts differ only in their environment.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers, one per core (at least two, so one slow request never stops the host): a page
# is CPU-bound in the worker (Python and templates are most of its time; its SQL is a few short
# reads), so more processes than cores only queue for the same cores. Measured on a 2-core host
# with wrk (README, "Gunicorn: workers and threads"): 3 and 4 sync workers were no faster than 2. Threads (GUNICORN_THREADS=4,
# gthread) were faster there, mostly by keep-alive, but are not the default: `timeout` below
# replaces a worker whose main loop stops, not a thread stuck in a request, and nothing else
# bounds a request yet. Heavy jobs (imports beyond IMPORT_INLINE_ROWS rows, exports beyond
# EXPORT_INLINE_ROWS, the analytics refresh, the sweep, every delivery) run in Celery workers;
# the README lists what is left here.
workers = int(os.environ.get("GUNICORN_WORKERS", str(max(2, multiprocessing.cpu_count()))))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A request slower than this is a bug or a stuck database: the worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Behind the load balancer's keep-alive: longer than its idle timeout is pointless.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak cannot grow forever; jitter avoids all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "500"))
# Workers are forked from a master that has loaded the app: a recycled worker serves again in
# milliseconds instead of importing Django anew (no connection is opened at import).
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() in {"1", "true", "yes", "on"}
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
# The proxy in front sets X-Forwarded-*; Django decides what to trust (TRUSTED_PROXY_COUNT).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
