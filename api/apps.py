from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from accounts.people import register_service_relation

        from . import schema  # noqa: F401  (registers the OpenAPI security scheme)

        # An API client's service account is not a person: never told, listed or handed a case.
        register_service_relation("api_client")
