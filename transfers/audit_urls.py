"""The audit log's export, under the log's address (`/audit/export.csv`): the exports' view (streamed
when short, else written by a worker), routed in front of `audit.urls`."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [path("export.csv", views.audit_export, name="audit_export")]
