from __future__ import annotations

from django.contrib import admin

from config.readonly_admin import ReadOnlyAdmin

from .models import AccessEvent, BreakGlassGrant


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
