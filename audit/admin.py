from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AccessEvent, BreakGlassGrant


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit rows are append-only: the admin may look, never add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "username", "case", "ip"]
    list_filter = ["kind"]
    search_fields = ["username", "case__reference"]
    list_select_related = ["case"]


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "case", "ground", "expires_at"]
    list_select_related = ["user", "case"]
