from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from oauth2_provider.views import TokenView

from . import views

app_name = "api"

urlpatterns = [
    path("oauth/token/", TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("cases/", views.CaseListView.as_view(), name="case_list"),
    path("cases/<uuid:case_id>/", views.CaseDetailView.as_view(), name="case_detail"),
    path("cases/<uuid:case_id>/submit/", views.CaseSubmitView.as_view(), name="case_submit"),
    path("cases/<uuid:case_id>/withdraw/", views.CaseWithdrawView.as_view(), name="case_withdraw"),
    path("cases/<uuid:case_id>/visits/", views.VisitListView.as_view(), name="case_visits"),
    path("cases/<uuid:case_id>/events/", views.EventListView.as_view(), name="case_events"),
    path("cases/<uuid:case_id>/documents/", views.DocumentListView.as_view(), name="case_documents"),
    path("cases/<uuid:case_id>/test-results/", views.TestResultsView.as_view(), name="case_test_results"),
    path("cases/<uuid:case_id>/messages/", views.MessageListView.as_view(), name="case_messages"),
    path("cases/<uuid:case_id>/actions/", views.ActionListView.as_view(), name="case_actions"),
    path("links/", views.LinkListView.as_view(), name="link_list"),
    path("links/<uuid:link_id>/", views.LinkDetailView.as_view(), name="link_detail"),
    path("links/<uuid:link_id>/events/", views.LinkEventListView.as_view(), name="link_events"),
    path(
        "test-gateway/observations/",
        views.TestGatewayObservationsView.as_view(),
        name="test_gateway_observations",
    ),
    path(
        "document-versions/<uuid:version_id>/download/", views.DocumentDownloadView.as_view(), name="version_download"
    ),
]
