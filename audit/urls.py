from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.audit_log, name="audit_log"),
    path("break-glass/", views.break_glass_lookup, name="audit_break_glass"),
    path("cases/<uuid:public_id>/open/", views.break_glass_open_view, name="audit_break_glass_open"),
    path("cases/<uuid:public_id>/", views.break_glass_case, name="audit_break_glass_case"),
]
