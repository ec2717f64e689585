"""Production settings pass `check --deploy`; every page carries the CSP and the headers."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from audit.middleware import CSP

ROOT = Path(__file__).resolve().parent.parent
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)


def run_check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "ALLOW_INSECURE_DEV_KEY",
            "DEBUG",
            "SECRET_KEY",
            "HTTPS",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
            "DATABASE_URL",
            "MIGRATE_DATABASE_URL",
            "REDIS_URL",
            "EMAIL_HOST",
            "EMAIL_BACKEND",
        }
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_check_deploy(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DEBUG": "false",
    "HTTPS": "true",
    "ALLOWED_HOSTS": "onboarding.bank.internal",
    "DATABASE_URL": "postgres://onboarding@db.bank.internal:5432/onboarding",  # not connected by check
    "REDIS_URL": "redis://redis.bank.internal:6379/0",
    "EMAIL_HOST": "smtp.bank.internal",
}


@pytest.mark.parametrize(
    ("unset", "check_id"),
    [("DATABASE_URL", "onboarding.W001"), ("REDIS_URL", "onboarding.W002"), ("EMAIL_HOST", "onboarding.W003")],
)
def test_check_deploy_flags_a_development_service_in_production(unset, check_id):
    env = {k: v for k, v in PRODUCTION.items() if k != unset}
    result = run_check_deploy(**env)
    assert result.returncode != 0 and check_id in result.stdout + result.stderr


def test_check_deploy_reports_a_developer_configuration():
    result = run_check_deploy(DEBUG="true", HTTPS="false")
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG on


def test_csp_forbids_inline_script_and_other_origins():
    directives = dict(d.split(" ", 1) for d in CSP.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in CSP and "http" not in CSP and "*" not in CSP


def assert_secure_page(response, url: str) -> None:
    assert response["Content-Security-Policy"] == CSP, url
    assert response["X-Content-Type-Options"] == "nosniff", url
    assert response["X-Frame-Options"] == "DENY", url
    assert response["Referrer-Policy"] == "same-origin", url
    assert "Permissions-Policy" in response, url
    if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
        assert not INLINE_SCRIPT.search(response.content), url


@pytest.mark.django_db
def test_every_page_carries_the_csp_and_security_headers(world, login):
    case = world.case()
    anonymous = Client()
    pages = {
        anonymous: [reverse("login"), reverse("home"), "/no-such-page/", "/admin/login/"],
    }
    mid_login = Client()
    mid_login.post(reverse("login"), {"login": "am_a", "password": "Test-pass-2026"})
    pages[mid_login] = [reverse("mfa_authenticate")]

    am = login(Client(), world.am_a)
    pages[am] = [
        reverse("home"),
        reverse("case_list"),
        reverse("case_new"),
        reverse("case_detail", args=[case.public_id]),
        reverse("case_edit", args=[case.public_id]),
        reverse("mfa_index"),
        reverse("account_reauthenticate"),
        reverse("audit_break_glass"),
        reverse("audit_log"),  # 403 page
    ]
    auditor = login(Client(), world.auditor)
    pages[auditor] = [reverse("audit_log"), reverse("audit_export"), reverse("case_detail", args=[case.public_id])]

    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "Test-pass-2026")
    pages[login(Client(), admin)] = ["/admin/", "/admin/onboarding/onboardingcase/", "/admin/audit/accessevent/"]

    enrolling = get_user_model().objects.create_user("new_staff", password="Test-pass-2026", branch=world.branch_a)
    fresh = Client()
    fresh.post(reverse("login"), {"login": "new_staff", "password": "Test-pass-2026"})
    pages[fresh] = [reverse("mfa_activate_totp")]

    seen = 0
    for client, urls in pages.items():
        for url in urls:
            response = client.get(url)
            expected = {
                "/no-such-page/": 404,
                "/admin/login/": 302,
                reverse("home"): 302 if client is anonymous else 200,
            }
            if client is am and url == reverse("audit_log"):
                expected[url] = 403
            assert response.status_code == expected.get(url, 200), (url, response.status_code)
            assert_secure_page(response, url)
            seen += 1
    assert seen == 21
    assert enrolling.pk
