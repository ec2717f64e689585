from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = _("银企直联")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers this app's outbox mail renderer(s).
        from workcalendar.models import register_stages

        from . import notifications  # noqa: F401
        from .states import WORKING_STAGES, State

        # The calendar app sits below this one: it learns the stages' names from here.
        register_stages([(code, State(code).label) for code in WORKING_STAGES])
