"""Redis down: logins keep working and stay limited, pages keep serving, the log says so.

The cache is really pointed at a Redis that does not answer (a free port nobody listens on),
through the same backend the settings choose when REDIS_URL is set.
"""

from __future__ import annotations

import logging
import socket

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from audit.mfa import totp_code
from audit.models import AccessEvent, CacheFallbackEntry
from config import cache as resilient
from tests.factories import PASSWORD, TOTP_SECRET
from tests.test_security_mfa import NOW, password_and_totp_login, password_step


def dead_redis_url() -> str:
    with socket.socket() as s:  # bound then closed: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def redis_down(settings):
    url = dead_redis_url()
    resilient._down_until.pop(url, None)
    # The whole Redis is gone: the default cache and the session cache (`cached_db`, as in production).
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": url, "KEY_PREFIX": "t"},
        "sessions": {"BACKEND": "config.cache.SessionRedisCache", "LOCATION": url, "KEY_PREFIX": "t-s"},
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.SESSION_CACHE_ALIAS = "sessions"
    yield url
    resilient._down_until.pop(url, None)


def test_plain_redis_cache_on_a_dead_port_fails_the_login(world, settings):
    """The fault as found: allauth's limiter raises on the cache's connection error (a 500)."""
    import redis

    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead_redis_url()},
    }
    client = Client(raise_request_exception=True)
    with pytest.raises(redis.exceptions.ConnectionError):
        password_step(client, "customer_x")


@freeze_time(NOW)
def test_login_with_password_and_totp_works_while_redis_is_down(world, redis_down, caplog):
    caplog.set_level(logging.WARNING, logger="config.cache")
    client = Client()
    response = password_and_totp_login(client, "am_a")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.am_a.pk)
    assert client.get(reverse("home")).status_code == 200
    assert any("does not answer" in r.getMessage() and redis_down in r.getMessage() for r in caplog.records)
    # The single-use mark of the code went to the database: replaying it fails.
    assert CacheFallbackEntry.objects.exists()
    other = Client()
    assert password_step(other, "am_a").status_code == 302
    other.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
    assert "_auth_user_id" not in other.session


@freeze_time(NOW)
def test_failed_logins_are_still_limited_while_redis_is_down(world, redis_down):
    client = Client()
    for _ in range(5):
        response = password_step(client, "customer_x", password="wrong-password", ip="10.9.9.9")
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    response = password_step(client, "customer_x", password=PASSWORD, ip="10.9.9.9")
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOGIN_BLOCKED, username="customer_x").exists()
    # The same person from another address logs in.
    other = Client()
    response = password_step(other, "customer_x", ip="10.7.7.7")
    assert response.status_code == 302 and other.session["_auth_user_id"] == str(world.customer_x.pk)


def test_pages_of_logged_in_users_keep_serving_while_redis_is_down(world, redis_down, login):
    case = world.case()
    staff = login(Client(), world.am_a)
    assert staff.get(reverse("home")).status_code == 200
    assert staff.get(reverse("case_detail", args=[case.public_id])).status_code == 200
    customer = login(Client(), world.customer_x, mfa=False)
    assert customer.get(reverse("portal:home")).status_code == 200


@pytest.mark.redis
def test_the_fallback_is_left_when_redis_answers_again(redis_url, settings, caplog, db):
    caplog.set_level(logging.WARNING, logger="config.cache")
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": redis_url, "KEY_PREFIX": "t"},
    }
    resilient._down_until[redis_url] = 0.0  # it was down, the retry time has come
    try:
        cache.set("probe", "redis")
        assert cache.get("probe") == "redis"
        assert redis_url not in resilient._down_until
        assert any("answers again" in r.getMessage() for r in caplog.records)
        assert not CacheFallbackEntry.objects.exists()
    finally:
        resilient._down_until.pop(redis_url, None)
        cache.delete("probe")
