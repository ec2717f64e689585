"""Asking the worker for a cockpit refresh from a page view, off the request (issue 26: heavy jobs
never on the web workers).

A page that finds its scope's default figures stale, or missing (after midnight: the new day's
period; a fresh install), shows what there is and asks here. However many views ask, one
refresh is enqueued per scope and language per ANALYTICS_REFRESH_SECONDS: a key added to the
cache (an atomic SET NX in Redis; while Redis does not answer the cache falls back to its
table, `config.cache`). The task goes through the delivery kernel's bounded publish like
every task a request queues (signals.py too); one lost with its broker is asked for again
after that window, and beat's `analytics-cockpit-refresh` recomputes every scope anyway.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation

from delivery.channels import publish

from .selectors import Period
from .snapshots import filters_key
from .tasks import cockpit_refresh_scope


def ask(*, scope_id: int, now: dt.datetime | None = None) -> bool:
    """Enqueue the refresh of this scope's default figures in the current language unless one
    was asked for within ANALYTICS_REFRESH_SECONDS. Returns whether this call enqueued it."""
    now = now or timezone.now()
    period = Period.default()
    language = translation.get_language() or settings.LANGUAGE_CODE
    key = f"analytics:cockpit-asked:{scope_id}:{period.start}:{period.end}:{filters_key(language)}"
    if not cache.add(key, now.isoformat(), timeout=settings.ANALYTICS_REFRESH_SECONDS):
        return False
    return publish(cockpit_refresh_scope, scope_id, language, now.isoformat())


def ran_in_request() -> bool:
    """Tasks run eagerly (development without a worker, the test suite): an enqueued refresh
    has already run inside `publish`, and the page can show its figures."""
    return bool(cockpit_refresh_scope.app.conf.task_always_eager)
