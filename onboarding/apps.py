from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = _("银企直联")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from casetypes import declaration

        from . import notifications  # noqa: F401  (its outbox mail renderer)
        from .journey import ONBOARDING

        declaration.register(ONBOARDING)
