"""Celery finds the WeCom and digest tasks here; they are defined beside what they run."""

from __future__ import annotations

from .digest import send_digests
from .services import flush_robots, send_robot

__all__ = ["flush_robots", "send_digests", "send_robot"]
