from __future__ import annotations

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("start/", views.start, name="start"),
    path("cases/new/", views.case_new, name="case_new"),
    path("cases/<uuid:public_id>/", views.case_detail, name="case_detail"),
    path("cases/<uuid:public_id>/edit/", views.case_edit, name="case_edit"),
    path("cases/<uuid:public_id>/submit/", views.case_submit, name="case_submit"),
    path("cases/<uuid:public_id>/withdraw/", views.case_withdraw, name="case_withdraw"),
    path("cases/<uuid:public_id>/test-result/", views.case_test_result, name="case_test_result"),
    path("cases/<uuid:public_id>/test-observations/confirm/", views.case_test_confirm, name="case_test_confirm"),
    path("cases/<uuid:public_id>/confirm-production/", views.case_confirm_production, name="case_confirm_production"),
    path("cases/<uuid:public_id>/messages/", views.case_message, name="case_message"),
    path("cases/<uuid:public_id>/thread/", views.case_thread, name="case_thread"),
    path("cases/<uuid:public_id>/change-request/", views.case_change_request, name="case_change_request"),
    path("team/", views.team, name="team"),
    path("team/invite/", views.team_invite, name="team_invite"),
    path("team/<uuid:member_id>/remove/", views.team_remove, name="team_remove"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    # Bank staff: the portal's side of a company and of a case.
    path("staff/enterprises/<uuid:enterprise_id>/", views.staff_enterprise, name="staff_enterprise"),
    path("staff/enterprises/<uuid:enterprise_id>/invite/", views.staff_invite, name="staff_invite"),
    path("staff/members/<uuid:member_id>/remove/", views.staff_member_remove, name="staff_member_remove"),
    path("staff/cases/<uuid:public_id>/messages/", views.staff_case_message, name="staff_case_message"),
    path("staff/cases/<uuid:public_id>/thread/", views.staff_case_thread, name="staff_case_thread"),
]
