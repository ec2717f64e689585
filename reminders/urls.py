from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.notification_list_view, name="notification_list"),
    path("read/", views.notification_mark_read_view, name="notification_mark_read"),
]
