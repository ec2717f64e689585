from __future__ import annotations

from django.urls import path

from . import views

app_name = "counter"
urlpatterns = [
    path("expiring/", views.expiring, name="expiring"),
    path("cases/<uuid:public_id>/operators/", views.operator_add, name="operator_add"),
    path("cases/<uuid:public_id>/operators/<uuid:item_id>/remove/", views.operator_remove, name="operator_remove"),
    path("cases/<uuid:public_id>/visit/", views.counter_visit, name="visit"),
    path("cases/<uuid:public_id>/activations/", views.activations, name="activations"),
    path("cases/<uuid:public_id>/confirm-all/", views.confirm_all, name="confirm_all"),
    path("cases/<uuid:public_id>/identity-check/", views.identity_check, name="identity_check"),
    path("cases/<uuid:public_id>/ukey-issuance/", views.ukey_issue, name="ukey_issue"),
    path("cases/<uuid:public_id>/activation/", views.cert_activation, name="cert_activation"),
    path("cases/<uuid:public_id>/entries/<uuid:item_id>/confirm/", views.entry_confirm, name="entry_confirm"),
    path("cases/<uuid:public_id>/entries/<uuid:item_id>/cancel/", views.entry_cancel, name="entry_cancel"),
    path("cases/<uuid:public_id>/ukeys/<uuid:item_id>/<slug:action>/", views.ukey_action, name="ukey_action"),
]
