from __future__ import annotations

from django.apps import AppConfig


class CounterConfig(AppConfig):
    name = "counter"
    default_auto_field = "django.db.models.BigAutoField"
