from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data (`manage.py seed_demo`): built through the real services, imported by no other app."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
