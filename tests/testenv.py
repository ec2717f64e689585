"""Loaded with `-p tests.testenv` before Django starts: settings the test run relies on."""

from __future__ import annotations

import os

os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")
# Tasks run inline unless a test starts a real worker.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# The page cache (config/pagecache.py) on, as in production: process-local without Redis,
# which is right for the one process the suite runs in.
os.environ.setdefault("PAGE_CACHE", "true")
