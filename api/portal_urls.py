from __future__ import annotations

from django.urls import path

from . import pages

side = {"side": pages.COMPANY}
urlpatterns = [
    path("", pages.integrations, side, name="integrations"),
    path("clients/new/", pages.client_create, side, name="integrations_client_create"),
    path("clients/action/", pages.client_action, side, name="integrations_client_action"),
    path("endpoints/new/", pages.endpoint_create, side, name="integrations_endpoint_create"),
    path("endpoints/action/", pages.endpoint_action, side, name="integrations_endpoint_action"),
]
