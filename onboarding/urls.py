from __future__ import annotations

from django.urls import path

from . import queue_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("queue/", queue_views.queue_all, name="queue_all"),
    path("cases/", views.case_list_view, name="case_list"),
    path("cases/new/", views.case_new, name="case_new"),
    path("cases/<uuid:public_id>/", views.case_detail, name="case_detail"),
    path("cases/<uuid:public_id>/history/", views.case_history, name="case_history"),
    path("cases/<uuid:public_id>/edit/", views.case_edit, name="case_edit"),
    path("cases/<uuid:public_id>/transition/<slug:name>/", views.case_transition_view, name="case_transition"),
    path("cases/<uuid:public_id>/test-package/", views.test_package_view, name="case_test_package"),
    path("cases/<uuid:public_id>/change-request/", views.case_change_request, name="case_change_request"),
    path("change-requests/<uuid:public_id>/decide/", views.change_request_decide, name="change_request_decide"),
    path("cases/<uuid:public_id>/test-result/", views.test_result_view, name="case_test_result"),
    path("cases/<uuid:public_id>/retest/", views.test_retest_view, name="case_test_retest"),
    path("cases/<uuid:public_id>/production-config/", views.production_config_view, name="case_production_config"),
]
