"""Celery finds the outbox tasks here; they are defined beside what they run, in `outbox.py`."""

from __future__ import annotations

from .outbox import flush_outbox, send_outbox

__all__ = ["flush_outbox", "send_outbox"]
