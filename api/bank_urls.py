"""The bank administrator's page for the bank's own API clients and webhook endpoints (/integrations/)."""

from __future__ import annotations

from django.urls import path

from . import pages

side = {"side": pages.BANK}
urlpatterns = [
    path("", pages.integrations, side, name="bank_integrations"),
    path("clients/new/", pages.client_create, side, name="bank_integrations_client_create"),
    path("clients/action/", pages.client_action, side, name="bank_integrations_client_action"),
    path("endpoints/new/", pages.endpoint_create, side, name="bank_integrations_endpoint_create"),
    path("endpoints/action/", pages.endpoint_action, side, name="bank_integrations_endpoint_action"),
]
