"""Celery finds the kernel's two tasks here; they are defined beside what they run, in `channels.py`."""

from __future__ import annotations

from .channels import flush_channel, send_rows

__all__ = ["flush_channel", "send_rows"]
