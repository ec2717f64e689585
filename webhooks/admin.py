"""Read-only: endpoints change through `webhooks.services` (portal page, `manage.py webhook_endpoint`)."""

from __future__ import annotations

from django.contrib import admin

from config.readonly_admin import ReadOnlyAdmin

from .models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "enterprise", "branch", "is_active", "disabled_at", "created_at"]
    exclude = ["secret", "previous_secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["msg_id", "endpoint", "event_type", "attempts", "last_status", "delivered_at", "given_up_at"]
    list_filter = ["event_type"]
