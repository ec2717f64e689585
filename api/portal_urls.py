from __future__ import annotations

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.integrations, name="integrations"),
    path("clients/new/", pages.client_create, name="integrations_client_create"),
    path("clients/action/", pages.client_action, name="integrations_client_action"),
    path("endpoints/new/", pages.endpoint_create, name="integrations_endpoint_create"),
    path("endpoints/action/", pages.endpoint_action, name="integrations_endpoint_action"),
]
