from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class BranchesConfig(AppConfig):
    name = "branches"
    verbose_name = _("机构与角色")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, sender=self)
