"""Celery finds the digest task here; WeCom messages are sent by the delivery kernel (`delivery.send`)."""

from __future__ import annotations

from .digest import send_digests

__all__ = ["send_digests"]
