from __future__ import annotations

from django.urls import path

from . import views

app_name = "transfers"
urlpatterns = [
    path("import/", views.import_page, name="import"),
    path("import/links/", views.import_page, {"kind": "links"}, name="import_links"),
    path(
        "import/links/template.csv", views.template_download, {"fmt": "csv", "kind": "links"}, name="links_template_csv"
    ),
    path(
        "import/links/template.xlsx",
        views.template_download,
        {"fmt": "xlsx", "kind": "links"},
        name="links_template_xlsx",
    ),
    path("import/<uuid:public_id>/", views.job_page, name="job"),
    path("import/<uuid:public_id>/start/", views.job_start, name="job_start"),
    path("import/template.csv", views.template_download, {"fmt": "csv"}, name="template_csv"),
    path("import/template.xlsx", views.template_download, {"fmt": "xlsx"}, name="template_xlsx"),
    path("export.csv", views.export, {"fmt": "csv"}, name="export_csv"),
    path("export.xlsx", views.export, {"fmt": "xlsx"}, name="export_xlsx"),
    path("exports/<uuid:public_id>/", views.export_page, name="export"),
    path("exports/<uuid:public_id>/download/", views.export_download, name="export_download"),
]
