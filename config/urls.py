from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("documents/", include("documents.urls")),
    path("counter/", include("counter.urls")),
    path("reminders/", include("reminders.urls")),
    path("audit/", include("audit.urls")),
    path("portal/", include("portal.urls")),
    path("", include("onboarding.urls")),
]
