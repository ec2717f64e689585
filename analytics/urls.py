from __future__ import annotations

from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("", views.cockpit_view, name="cockpit"),
    path("cases/", views.cases_view, name="cases"),
    path("table/", views.table_view, name="table"),
    # The table is a query parameter like the period: no path parameter to guess.
    path("export.csv", views.export_view, {"fmt": "csv"}, name="export_csv"),
    path("export.xlsx", views.export_view, {"fmt": "xlsx"}, name="export_xlsx"),
]
