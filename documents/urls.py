from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("cases/<uuid:case_id>/upload/<slug:kind>/", views.upload_view, name="document_upload"),
    path("cases/<uuid:case_id>/upload-many/", views.upload_many_view, name="document_upload_many"),
    path("cases/<uuid:case_id>/upload-signed/", views.upload_signed_view, name="document_upload_signed"),
    path("cases/<uuid:case_id>/review-many/", views.review_many_view, name="document_review_many"),
    path("cases/<uuid:case_id>/generate/<slug:kind>/", views.generate_view, name="form_generate"),
    path("d/<uuid:document_id>/", views.document_detail, name="document_detail"),
    path("v/<uuid:version_id>/review/", views.review_view, name="document_review"),
    path("v/<uuid:version_id>/download/", views.download_view, name="document_download"),
    path("v/<uuid:version_id>/view/", views.inline_view, name="document_view"),
]
