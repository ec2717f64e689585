from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from onboarding import events

        from .services import deliveries_queue, deliveries_queue_many

        events.listeners.add(deliveries_queue)
        events.bulk_listeners.add(deliveries_queue_many)
