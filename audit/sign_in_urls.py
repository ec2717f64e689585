"""The sign-in routes that stand in front of the admin's and allauth's own (config/urls.py
includes them at the root, before `admin/` and `accounts/`)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    # The admin signs in through the same allauth login (password + TOTP) as everyone.
    path("admin/login/", views.admin_login),
    # Enrolling TOTP also marks the session as having given the second factor.
    path("accounts/2fa/totp/activate/", views.TOTPEnrolView.as_view(), name="mfa_activate_totp"),
    # The last security key of a role that needs one is not removed (MFA_REQUIRE_SECURITY_KEY_ROLES).
    path("accounts/2fa/webauthn/keys/<int:pk>/remove/", views.remove_security_key, name="mfa_remove_webauthn"),
]
