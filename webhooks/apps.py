from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    # ready() imports services, which declares the webhook delivery channel.

    def ready(self) -> None:
        from onboarding.events import on_event

        from .services import deliveries_queue, deliveries_queue_many

        on_event(deliveries_queue, bulk=deliveries_queue_many)
