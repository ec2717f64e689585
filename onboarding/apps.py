from __future__ import annotations

from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "银企直联"
    default_auto_field = "django.db.models.BigAutoField"
