from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import User
from .people import changed_by


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "display_name", "branch", "enterprise", "is_active"]
    list_filter = ["is_active", "groups", "branch"]
    search_fields = ["username", "display_name", "email"]
    list_select_related = ["branch", "enterprise"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        (_("机构与企业"), {"fields": ("display_name", "phone", "branch", "enterprise")}),
    )

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        # Whoever hears the save (a deactivation releases the person's work) names the administrator.
        with changed_by(request.user):
            super().save_model(request, obj, form, change)
