from __future__ import annotations

from allauth.account import views as account_views
from django.contrib import admin
from django.urls import include, path, re_path

from audit import views as audit_views

urlpatterns = [
    # The admin signs in through the same allauth login (password + TOTP) as everyone.
    path("admin/login/", audit_views.admin_login),
    path("admin/", admin.site.urls),
    path("login/", account_views.login, name="login"),
    path("logout/", account_views.logout, name="logout"),
    # Enrolling TOTP also marks the session as having given the second factor.
    path("accounts/2fa/totp/activate/", audit_views.TOTPEnrolView.as_view(), name="mfa_activate_totp"),
    # Accounts are bank-managed: every password-reset page says whom to ask and mails nothing.
    path(
        "accounts/password/reset/",
        include([re_path(r"", audit_views.password_reset_closed, name="account_reset_password")]),
    ),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("documents/", include("documents.urls")),
    path("counter/", include("counter.urls")),
    path("reminders/", include("reminders.urls")),
    path("notices/", include("notices.urls")),
    path("audit/", include("audit.urls")),
    path("portal/", include("portal.urls")),
    path("analytics/", include("analytics.urls")),
    path("", include("onboarding.urls")),
]
