"""Failed logins: counters that cannot split while Redis comes and goes, and per-address ceilings
that stop one address trying passwords on many accounts (spraying).

The Redis of the split tests is a redis-server this module starts on a free port and stops
itself: stopping it is the outage, starting it again the recovery. The shared Redis is never
touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.test import Client
from django.urls import get_resolver, reverse
from freezegun import freeze_time

from audit.models import AccessEvent
from config import cache as resilient
from tests.factories import PASSWORD
from tests.test_security_mfa import NOW, password_step

SPRAYER = "10.66.0.9"  # one address trying a few passwords on many accounts
COLLEAGUE = "10.66.0.10"  # another branch's NAT address


class OwnRedis:
    """A redis-server of this test's own, on a free port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.exe = shutil.which("redis-server")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.exe is not None and self.process is None
        self.process = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        for _ in range(100):  # counted, not timed: the tests freeze the clock
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def stored_keys(self) -> list[bytes]:
        return list(redis.Redis.from_url(self.url).keys("*"))


@pytest.fixture(autouse=True)
def _urls_loaded_before_the_clock_stops() -> None:
    """The first request loads the URLconf, and with it the API's throttle class, which keeps
    `time.time` as a class attribute: loaded under freeze_time it would keep freezegun's clock
    (and fail every later API test of the run)."""
    get_resolver().url_patterns  # noqa: B018


@pytest.fixture
def own_redis(settings, tmp_path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    if server.exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": server.url, "KEY_PREFIX": "t"},
    }
    resilient._down_until.pop(server.url, None)
    try:
        yield server
    finally:
        server.stop()
        resilient._down_until.pop(server.url, None)


def _fail(times: int, ip: str = "10.9.9.9") -> None:
    for _ in range(times):
        client = Client()
        response = password_step(client, "customer_x", password="wrong-password", ip=ip)
        assert response.status_code == 200 and "_auth_user_id" not in client.session


def _blocked(ip: str) -> int:
    return AccessEvent.objects.filter(kind=AccessEvent.Kind.LOGIN_BLOCKED, ip=ip).count()


def _logs_in(ip: str = "10.9.9.9") -> bool:
    client = Client()
    password_step(client, "customer_x", ip=ip)
    return "_auth_user_id" in client.session


# --- one store for the counters -------------------------------------------------------------------


def test_failures_counted_in_the_fallback_still_count_when_redis_is_back(world, own_redis):
    """The fault as found: 3 wrong passwords in the database fallback, 3 in Redis, then the right one accepted."""
    with freeze_time(NOW) as clock:
        _fail(3)  # Redis does not answer (never started): this process is on the fallback
        assert own_redis.url in resilient._down_until
        own_redis.start()
        resilient._down_until[own_redis.url] = 0.0  # the retry time has come: this process goes back to Redis
        _fail(2)
        assert _blocked("10.9.9.9") == 0
        _fail(1)  # the sixth: refused by the limit, answered like a wrong password
        assert _blocked("10.9.9.9") == 1
        assert own_redis.url not in resilient._down_until  # really on Redis again
        assert not _logs_in()  # the right password is refused too, until the window has passed
        assert not [k for k in own_redis.stored_keys() if b"login_failed" in k]  # no counter ever went to Redis
        clock.tick(5 * 60 + 1)
        assert _logs_in()


def test_failures_counted_in_redis_still_count_when_redis_goes_away(world, own_redis):
    own_redis.start()
    with freeze_time(NOW) as clock:
        _fail(3)
        assert own_redis.url not in resilient._down_until
        own_redis.stop()
        _fail(2)
        assert own_redis.url in resilient._down_until  # on the fallback now
        assert _blocked("10.9.9.9") == 0
        _fail(1)
        assert _blocked("10.9.9.9") == 1
        assert not _logs_in()
        clock.tick(5 * 60 + 1)
        assert _logs_in()


def test_two_workers_that_disagree_about_redis_count_together(world, own_redis):
    """Each worker notices on its own that Redis is back: one on Redis, the other still on the fallback."""
    own_redis.start()
    with freeze_time(NOW):
        for attempt in range(5):
            # Alternate as a load balancer would between a worker that has switched back and one that has not.
            if attempt % 2:
                resilient._down_until[own_redis.url] = time.monotonic() + 30
            else:
                resilient._down_until.pop(own_redis.url, None)
            _fail(1)
        assert not _logs_in()
        assert _blocked("10.9.9.9") == 1


def test_a_live_counter_is_not_culled_by_many_other_rows(world, own_redis):
    """Django's database cache deletes a third of its rows past 300, live or not (the lowest keys,
    here the counters); the counters' table only deletes expired rows."""
    from django.core.cache import cache

    with freeze_time(NOW):
        _fail(5)  # Redis does not answer: everything is in the table
        for i in range(320):
            cache.set(f"zz-{i:03d}", "x", 600)
        assert not _logs_in()


# --- per-address ceilings -------------------------------------------------------------------------


def _errors(response) -> list[str]:
    return [str(e) for e in response.context["form"].non_field_errors()]


@pytest.mark.parametrize(
    ("per_minute", "guesses", "evaluated"),
    [
        pytest.param(43, 43, 20, id="43 a minute: stopped by the minute's 20"),
        pytest.param(6, 60, 40, id="6 a minute: stopped by the 10 minutes' 40"),
        pytest.param(3, 120, 100, id="3 a minute: stopped by the hour's 100"),
    ],
)
def test_one_address_spraying_many_accounts_is_stopped(world, settings, per_minute, guesses, evaluated):
    assert settings.ACCOUNT_RATE_LIMITS["login_failed"] == "5/5m/key,20/1m/ip,40/10m/ip,100/1h/ip"
    with freeze_time(NOW) as clock:
        wrong_password = _errors(password_step(Client(), "am_a", password="wrong-password", ip=COLLEAGUE))
        answers = []
        for i in range(guesses):
            response = password_step(Client(), f"teller{i:03d}", password="Spring-2026", ip=SPRAYER)
            assert response.status_code == 200
            answers.append(_errors(response))
            if i < guesses - 1:
                clock.tick(60 / per_minute)
        # Every answer reads the same: a blocked guess says nothing a wrong password does not.
        assert all(a == wrong_password for a in answers), {tuple(a) for a in answers}
        assert _blocked(SPRAYER) == guesses - evaluated
        # Within the window even a right password from that address is refused ...
        client = Client()
        assert _errors(password_step(client, "customer_x", ip=SPRAYER)) == wrong_password
        assert "_auth_user_id" not in client.session
        # ... while a colleague behind another address logs in.
        client = Client()
        password_step(client, "customer_x", ip=COLLEAGUE)
        assert client.session["_auth_user_id"] == str(world.customer_x.pk)


def test_a_branch_mornings_typos_stay_under_every_ceiling(world):
    """50 tellers behind one NAT address log in within ten minutes of opening; one in three mistypes once."""
    with freeze_time(NOW) as clock:
        for teller in range(50):
            if teller % 3 == 0:
                password_step(Client(), f"teller{teller:02d}", password="typo", ip=SPRAYER)
            clock.tick(12)
        assert _blocked(SPRAYER) == 0
        client = Client()
        password_step(client, "customer_x", password=PASSWORD, ip=SPRAYER)
        assert client.session["_auth_user_id"] == str(world.customer_x.pk)


def test_a_wrong_totp_code_past_the_limit_reads_as_a_wrong_code(world):
    from audit.mfa import totp_code
    from tests.factories import TOTP_SECRET

    with freeze_time(NOW):
        client = Client()
        assert password_step(client, "am_a", ip=SPRAYER).status_code == 302
        wrong = "000000" if totp_code(TOTP_SECRET) != "000000" else "111111"
        messages = []
        for _ in range(6):
            response = client.post(reverse("mfa_authenticate"), {"code": wrong}, REMOTE_ADDR=SPRAYER)
            messages.append([str(e) for e in response.context["form"].errors.get("code", [])])
        assert len({tuple(m) for m in messages}) == 1  # the sixth, refused by the limit, reads the same
        client.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)}, REMOTE_ADDR=SPRAYER)
        assert "_auth_user_id" not in client.session
