"""Read-only: clients are created, rotated and revoked through `api.services` (portal page, `manage.py api_client`)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from .models import ApiClient


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "enterprise", "branch", "scopes", "created_at", "revoked_at"]
    list_filter = ["scopes"]
    search_fields = ["name", "application__client_id", "enterprise__name", "branch__code"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
