from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    # ready() imports services, which declares the webhook delivery channel.

    def ready(self) -> None:
        from onboarding import events

        from .services import deliveries_queue, deliveries_queue_many

        events.listeners.add(deliveries_queue)
        events.bulk_listeners.add(deliveries_queue_many)
