"""Probes for a load balancer: `/healthz` (the process answers) and `/readyz` (its database and
Redis answer). Neither needs a session or a login, and neither touches the session table."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.REDIS_URL:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            # The clients' short timeouts and no retry: a frozen Redis is "not ready" within them.
            client = redis.Redis.from_url(
                settings.REDIS_URL, **settings.REDIS_CLIENT_OPTIONS, retry=Retry(NoBackoff(), 0)
            )
            try:
                client.ping()
            finally:
                client.close()
            checks["redis"] = "ok"
        except redis.exceptions.RedisError as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
