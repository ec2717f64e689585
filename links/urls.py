from __future__ import annotations

from django.urls import path

from . import views

app_name = "links"

urlpatterns = [
    path("links/", views.link_list, name="link_list"),
    path("links/<uuid:link_id>/", views.link_detail, name="link_detail"),
    path("links/<uuid:link_id>/history/", views.link_history, name="link_history"),
    path("links/<uuid:link_id>/requests/", views.link_requests, name="link_requests"),
    path("links/<uuid:link_id>/ukey-loss/", views.link_report_loss, name="link_report_loss"),
    path("links/requests/<uuid:case_id>/replace/", views.request_replace, name="request_replace"),
    path("links/requests/<uuid:case_id>/confirm/", views.request_confirm, name="request_confirm"),
    path("links/requests/<uuid:case_id>/cancel/", views.request_cancel, name="request_cancel"),
    path("links/requests/<uuid:case_id>/release/", views.request_release, name="request_release"),
    path("portal/links/", views.portal_link_list, name="portal_link_list"),
    path("portal/links/<uuid:link_id>/", views.portal_link_detail, name="portal_link"),
    path("portal/links/<uuid:link_id>/history/", views.portal_link_history, name="portal_link_history"),
    path("portal/links/<uuid:link_id>/requests/", views.portal_link_requests, name="portal_link_requests"),
    path("portal/links/<uuid:link_id>/ukey-loss/", views.portal_report_loss, name="portal_report_loss"),
]

# Change requests (operator change; accounts/modules change): links/views_changes.py.
from . import views_changes  # noqa: E402

urlpatterns += [
    path("links/<uuid:link_id>/operator-change/", views_changes.operator_change_new, name="operator_change_new"),
    path(
        "portal/links/<uuid:link_id>/operator-change/",
        views_changes.portal_operator_change_new,
        name="portal_operator_change_new",
    ),
    path(
        "links/requests/<uuid:case_id>/operator-change/make/",
        views_changes.operator_change_make,
        name="operator_change_make",
    ),
    path(
        "links/requests/<uuid:case_id>/operator-change/confirm/",
        views_changes.operator_change_confirm,
        name="operator_change_confirm",
    ),
    path(
        "links/requests/<uuid:case_id>/operator-change/return/",
        views_changes.operator_change_return,
        name="operator_change_return",
    ),
]
urlpatterns += [
    path("links/requests/<uuid:request_id>/change-form.pdf", views_changes.change_form_pdf, name="change_form_pdf"),
    path(
        "portal/links/requests/<uuid:request_id>/change-form.pdf",
        views_changes.portal_change_form_pdf,
        name="portal_change_form_pdf",
    ),
]
urlpatterns += [
    path("links/<uuid:link_id>/account-change/", views_changes.account_change_new, name="account_change_new"),
    path(
        "portal/links/<uuid:link_id>/account-change/",
        views_changes.portal_account_change_new,
        name="portal_account_change_new",
    ),
    path(
        "links/requests/<uuid:case_id>/account-change/complete/",
        views_changes.account_change_complete,
        name="account_change_complete",
    ),
]
