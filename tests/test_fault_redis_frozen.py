"""Redis frozen (SIGSTOP: failing over, partitioned) or refusing: writes answer at once, once.

The test starts its own redis-server on a free port (the shared one is never touched), points
the caches, the sessions, the user cache and the broker at it, as production does with one
REDIS_URL, and then freezes or stops that server. A message posted meanwhile is answered with
its redirect before the Redis clients' socket timeout has passed a few times over (each client
waiting its own timeout would take four), is saved once (the browser's retry included), and its
mail waits in the outbox; when Redis is back the flush sends it, once. The probes answer at once
(`/healthz`) and within the timeout (`/readyz`: Redis not ready).
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import redis
from django.core import mail
from django.test import Client
from django.urls import reverse

from config import cache as resilient
from config import usercache
from config.celery import app
from delivery import channels
from notices import outbox
from notices.models import OutboxEmail
from onboarding.states import State
from portal.models import CaseMessage
from tests.processes import REDIS_SERVER, OwnRedis, own_redis_server

pytestmark = [
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server to start a Redis of its own"),
    pytest.mark.django_db(transaction=True),  # commits for real: the publish runs after them
]
TOKEN = re.compile(r'name="form_token" value="([0-9a-f]{32})"')


@pytest.fixture
def own_redis():
    server = own_redis_server()
    try:
        yield server
    finally:
        server.stop()


def _forget_outages(url: str) -> None:
    resilient._down_until.pop(url, None)
    channels._broker_down_until.pop(url, None)
    usercache._down_until = 0.0
    usercache._missed_writes = False


@pytest.fixture
def app_on_own_redis(own_redis, settings):
    """The app as production runs it with REDIS_URL set: every Redis client on the test's server."""
    url = own_redis.url
    options = settings.REDIS_CLIENT_OPTIONS
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "t",
            "OPTIONS": options,
        },
        "sessions": {
            "BACKEND": "config.cache.SessionRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "t-s",
            "OPTIONS": options,
        },
        "users": {"BACKEND": "config.cache.UserRedisCache", "LOCATION": url, "KEY_PREFIX": "t", "OPTIONS": options},
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.SESSION_CACHE_ALIAS = "sessions"
    settings.USER_CACHE = True
    keys = ("broker_url", "task_always_eager")
    saved = {k: app.conf[k] for k in keys}
    app.conf.update(broker_url=url, task_always_eager=False)
    app._pool = None
    app.__dict__.pop("amqp", None)
    _forget_outages(url)
    try:
        yield own_redis
    finally:
        _forget_outages(url)
        app.conf.update(saved)
        app._pool = None
        app.__dict__.pop("amqp", None)


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _post_twice_while_redis_is_away(world, login, settings, server: OwnRedis, away) -> None:
    case = world.case(State.JOINT_TESTING)
    mail.outbox.clear()
    client = login(Client(), world.customer_x, mfa=False)
    url = reverse("portal:case_message", args=[case.public_id])
    # The same post with Redis answering: what a message costs on this machine now.
    assert client.post(url, {"body": "Redis 正常时的留言"}).status_code == 302
    _, baseline = _timed(lambda: client.post(url, {"body": "Redis 正常时的第二条留言"}))
    # A bound on behaviour, not a speed target: the first timeout marks Redis down for every
    # client (session, user copy, publish, the user cache's write mark), so a
    # request pays one socket timeout, not one per client; and never the 2 s issue 24 allows.
    bound = min(baseline + 2 * settings.REDIS_SOCKET_TIMEOUT, 2.0)
    page = client.get(reverse("portal:case_detail", args=[case.public_id]))  # Redis answers
    assert page.status_code == 200
    form = {"body": "测试报告已上传,请查收", "form_token": TOKEN.findall(page.content.decode())[0]}
    mail.outbox.clear()
    away()

    first, took = posted = _timed(lambda: client.post(url, form))
    assert first.status_code == 302, first.content[:300]
    assert took < bound, f"message POST took {took:.2f}s with Redis away (bound {bound:.2f}s)"

    again, took_again = _timed(lambda: client.post(url, form))  # the browser's retry
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert took_again < bound
    message = CaseMessage.objects.get(case=case, body=form["body"])  # once
    row = OutboxEmail.objects.get(key=f"message:{message.pk}")
    assert row.sent_at is None and not mail.outbox  # it waits for the flush

    shown, took = _timed(lambda: client.get(first["Location"]))  # the page, computed
    assert shown.status_code == 200 and "测试报告已上传" in shown.content.decode() and took < bound
    print(f"Redis away: message POST {posted[1]:.2f}s, its retry {took_again:.2f}s (Redis answering: {baseline:.2f}s)")
    healthz, took = _timed(lambda: Client().get("/healthz"))
    assert healthz.status_code == 200 and took < settings.REDIS_SOCKET_TIMEOUT
    readyz, took_ready = _timed(lambda: Client().get("/readyz"))
    assert readyz.status_code == 503 and readyz.json()["redis"].startswith("error") and took_ready < bound
    print(f"Redis away: /healthz {took:.2f}s, /readyz {took_ready:.2f}s ({readyz.json()['redis']})")

    if server.process.poll() is None:
        server.thaw()
    # The worker's flush once the broker is back (here run in this process): the mail goes, once.
    app.conf.task_always_eager = True
    later = row.created_at + dt.timedelta(minutes=5)
    waiting = OutboxEmail.objects.filter(sent_at__isnull=True).count()
    assert outbox.outbox_flush(now=later) == waiting
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1
    assert [m.to for m in mail.outbox if "测试报告已上传" in m.body] == [[world.am_a.email]]
    assert outbox.outbox_flush(now=later) == 0


def test_a_message_posted_while_redis_is_frozen_answers_at_once_and_is_saved_once(
    world, login, settings, app_on_own_redis
):
    server = app_on_own_redis
    _post_twice_while_redis_is_away(world, login, settings, server, server.freeze)


def test_a_message_posted_while_redis_refuses_connections_answers_at_once_and_is_saved_once(
    world, login, settings, app_on_own_redis
):
    server = app_on_own_redis
    _post_twice_while_redis_is_away(world, login, settings, server, server.stop)


def test_after_a_freeze_the_next_write_is_queued_on_redis_again(world, login, settings, app_on_own_redis):
    """Once the outage's retry time has passed, publishing goes to the broker again."""
    server = app_on_own_redis
    case = world.case(State.JOINT_TESTING)
    client = login(Client(), world.customer_x, mfa=False)
    url = reverse("portal:case_message", args=[case.public_id])
    server.freeze()
    assert client.post(url, {"body": "冻结时"}).status_code == 302
    server.thaw()
    _forget_outages(server.url)  # the retry time has come
    queued = redis.Redis.from_url(server.url)
    before = queued.llen(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert client.post(url, {"body": "恢复后"}).status_code == 302
    assert queued.llen(settings.CELERY_TASK_DEFAULT_QUEUE) > before
    assert CaseMessage.objects.filter(case=case).count() == 2
