from __future__ import annotations

from django.urls import path

from . import views

app_name = "people"
urlpatterns = [
    path("<str:username>/work/", views.work, name="work"),
    path("<str:username>/work/preview/", views.work_preview, name="work_preview"),
    path("<str:username>/work/reassign/", views.work_reassign, name="work_reassign"),
    path("leavers/", views.leavers, name="leavers"),
    path("leavers/preview/", views.leavers_preview, name="leavers_preview"),
    path("leavers/reassign/", views.leavers_reassign, name="leavers_reassign"),
    path("absences/", views.absences, name="absences"),
    path("absences/<uuid:public_id>/cancel/", views.absence_cancel, name="absence_cancel"),
]
