"""Start-up refuses unsafe production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"


def start(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"ALLOW_INSECURE_DEV_KEY", "DEBUG", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "key",
    ["short-secret-key", DEV_KEY, "django-insecure-" + secrets.token_urlsafe(50), "ab" * 40],
    ids=["short", "dev-key", "django-insecure", "few-characters"],
)
def test_a_weak_secret_key_is_refused_at_start_up(key):
    result = start(SECRET_KEY=key, DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is weak" in result.stderr


def test_a_missing_secret_key_is_refused_outside_debug():
    result = start(DEBUG="false")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_a_strong_key_starts_and_a_weak_one_only_with_the_explicit_flag():
    assert start(SECRET_KEY=secrets.token_urlsafe(50), DEBUG="false").stdout.strip() == "started"
    assert start(SECRET_KEY="short", DEBUG="false", ALLOW_INSECURE_DEV_KEY="true").stdout.strip() == "started"
    assert start(DEBUG="true").stdout.strip() == "started"
