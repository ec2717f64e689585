"""Read-only: clients are created, rotated and revoked through `api.services` (portal page, `manage.py api_client`)."""

from __future__ import annotations

from django.contrib import admin

from config.readonly_admin import ReadOnlyAdmin

from .models import ApiClient


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    list_display = ["name", "enterprise", "branch", "scopes", "created_at", "revoked_at"]
    list_filter = ["scopes"]
    search_fields = ["name", "application__client_id", "enterprise__name", "branch__code"]
