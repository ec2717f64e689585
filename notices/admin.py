from __future__ import annotations

from django.contrib import admin

from config.readonly_admin import ReadOnlyAdmin

from .models import Notification, OutboxEmail


@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyAdmin):
    """What was sent to whom is evidence (its Meta.triggers): shown, never saved from here."""

    list_display = ("key", "kind", "created_at", "sent_at", "attempts", "next_attempt_at", "given_up_at", "last_error")
    list_filter = ("kind",)
    readonly_fields = (
        "kind",
        "key",
        "payload",
        "to",
        "created_at",
        "sent_at",
        "attempts",
        "next_attempt_at",
        "last_error",
        "given_up_at",
    )


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "text", "created_at", "read_at")
    list_select_related = ("recipient",)
    readonly_fields = ("recipient", "case", "kind", "text", "created_at", "read_at")

    def has_add_permission(self, request: object) -> bool:
        return False
