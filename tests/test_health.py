"""The load balancer's probes: up, ready, and not ready when Redis is gone."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_and_readyz_answer_without_a_login(settings):
    settings.REDIS_URL = ""
    assert Client().get("/healthz").json() == {"status": "ok"}
    response = Client().get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_readyz_says_unavailable_when_redis_does_not_answer(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["redis"].startswith("error")
