"""Celery finds the webhook tasks here; they are defined beside what they run, in `services.py`."""

from __future__ import annotations

from .services import flush_deliveries, send_deliveries

__all__ = ["flush_deliveries", "send_deliveries"]
