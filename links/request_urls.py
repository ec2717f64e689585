from __future__ import annotations

from django.urls import path

from . import request_views as views

app_name = "links_requests"

urlpatterns = [
    path("links/<uuid:link_id>/requests/<slug:request_kind>/", views.link_request_new, name="link_request_new"),
    path("links/<uuid:public_id>/retention/", views.link_retention, name="link_retention"),
    path("links/requests/<uuid:public_id>/certificate/", views.request_certificate, name="request_certificate"),
    path(
        "portal/links/<uuid:link_id>/requests/<slug:request_kind>/",
        views.portal_link_request_new,
        name="portal_link_request_new",
    ),
    path(
        "portal/links/requests/<uuid:public_id>/certificate/",
        views.portal_request_certificate,
        name="portal_request_certificate",
    ),
]
