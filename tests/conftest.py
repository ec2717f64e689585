from __future__ import annotations

import os

import pytest

from tests.factories import World


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if os.environ.get("CI") == "true" and os.environ.get("DATABASE_URL"):
                continue  # misconfigured: let it fail loudly
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db>")
            )
        if "redis" in item.keywords and not os.environ.get("REDIS_URL") and os.environ.get("CI") != "true":
            # In CI the test runs regardless and the `redis_url` fixture fails if Redis is down.
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://127.0.0.1:6379/<n>"))


@pytest.fixture
def redis_url() -> str:
    """The Redis of REDIS_URL (in CI by default the local one), failing loudly when it is not there."""
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(
            f"Redis at {url} is not reachable ({exc}). Start it: "
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
        )
    return url


@pytest.fixture
def world(db: None) -> World:
    return World()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Dozens of users per test: the production hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
