"""One beat, however many worker hosts start one.

Each `celery beat` takes a PostgreSQL advisory lock on a connection of its own before it sends
anything, and waits for it when another beat holds it. The lock belongs to that database
session: if the beat holding it dies or its host disappears, PostgreSQL ends the session and
the next beat in line takes over. On SQLite (the single-host demo) there is nothing to share
and no lock is taken.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import beat_init
from django.db import connections

log = logging.getLogger(__name__)

BEAT_LOCK_KEY = 0x6F6E625F62656174  # "onb_beat": the advisory lock's id, the same in every process

_held: list[Any] = []  # keeps the lock's connection open for the life of the process


def beat_lock_acquire(*, wait: bool = True) -> Any | None:
    """The connection holding the beat lock, or None when `wait` is false and another holds it."""
    conn = connections.create_connection("default")
    if conn.vendor != "postgresql":
        return conn
    conn.set_autocommit(True)
    with conn.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [BEAT_LOCK_KEY])
            return conn
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
        if cursor.fetchone()[0]:
            return conn
    conn.close()
    return None


@beat_init.connect
def _one_beat(sender: Any = None, **kwargs: Any) -> None:
    log.warning("beat: waiting for the beat lock (another beat may be running)")
    _held.append(beat_lock_acquire(wait=True))
    log.warning("beat: holding the beat lock; this process sends the schedule")
