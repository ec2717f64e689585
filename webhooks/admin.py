"""Read-only: endpoints change through `webhooks.services` (portal page, `manage.py webhook_endpoint`)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from .models import WebhookDelivery, WebhookEndpoint


class _ReadOnly:
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["url", "enterprise", "branch", "is_active", "disabled_at", "created_at"]
    exclude = ["secret", "previous_secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["msg_id", "endpoint", "event_type", "attempts", "last_status", "delivered_at", "given_up_at"]
    list_filter = ["event_type"]
