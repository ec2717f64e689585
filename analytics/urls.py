from __future__ import annotations

from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("", views.cockpit_view, name="cockpit"),
    path("cases/", views.cases_view, name="cases"),
    path("export/<slug:table>.<str:fmt>", views.export_view, name="export"),
]
