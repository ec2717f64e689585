"""Sessions read from a cache (`cached_db`): ending a session in the database ends it for the
browser too, a Redis that does not answer changes nothing for the person, and the limits hold.

Each test runs with the `db` engine and with `cached_db` on a cache of its own: the project's
Redis session cache when REDIS_URL is set (CI), else a local memory cache.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.middleware import SEEN_AT_SESSION_KEY
from portal.services import member_remove
from tests.factories import PASSWORD
from tests.portal_helpers import member
from tests.test_fault_cache_down import dead_redis_url

CACHED_DB = "django.contrib.sessions.backends.cached_db"


def session_cache(location: str | None) -> dict[str, str]:
    if location:
        return {"BACKEND": "config.cache.SessionRedisCache", "LOCATION": location, "KEY_PREFIX": "t-s"}
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sessions-test"}


@pytest.fixture(params=["db", "cached_db"])
def engine(request, settings) -> str:
    if request.param == "cached_db":
        settings.CACHES = {**settings.CACHES, "sessions": session_cache(django_settings.REDIS_URL or None)}
        settings.SESSION_CACHE_ALIAS = "sessions"
        settings.SESSION_ENGINE = CACHED_DB
    else:
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    return request.param


def cached_copy(client: Client) -> object:
    key = client.cookies["sessionid"].value
    return caches["sessions"].get("django.contrib.sessions.cached_db" + key)


def logged_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_removed_member_is_logged_out_in_their_browser(world, engine, django_capture_on_commit_callbacks):
    browser, colleague = Client(), Client()
    assert browser.login(username="customer_x", password=PASSWORD)
    assert colleague.login(username="customer_y", password=PASSWORD)
    assert browser.get("/portal/").status_code == 200
    assert browser.get("/portal/").status_code == 200  # read from the cache now, with cached_db
    if engine == "cached_db":
        assert cached_copy(browser) is not None
    with django_capture_on_commit_callbacks(execute=True):
        member_remove(by=world.am_a, member=member(world.customer_x))
    if engine == "cached_db":
        assert cached_copy(browser) is None  # the copy went with the row
    assert logged_out(browser.get("/portal/"))
    assert colleague.get("/portal/").status_code == 200


def test_an_ended_session_stays_ended_even_if_the_user_were_reenabled(
    world, engine, django_capture_on_commit_callbacks
):
    """The cached copy is gone, not just refused: re-enabling the account does not revive it."""
    browser = Client()
    assert browser.login(username="customer_x", password=PASSWORD)
    assert browser.get("/portal/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        member_remove(by=world.am_a, member=member(world.customer_x))
    type(world.customer_x).objects.filter(pk=world.customer_x.pk).update(is_active=True)
    assert logged_out(browser.get("/portal/"))


def test_a_logged_out_cookie_does_not_work_again(world, engine, login):
    browser = login(Client(), world.am_a)
    assert browser.get(reverse("case_list")).status_code == 200
    stolen = Client()
    stolen.cookies["sessionid"] = browser.cookies["sessionid"].value
    assert stolen.get(reverse("case_list")).status_code == 200
    browser.post(reverse("logout"))
    assert logged_out(stolen.get(reverse("case_list")))


def test_a_disabled_staff_members_session_ends_at_once(world, engine, login):
    """Deactivation by queryset.update() (no signal): refused on the user row, read every request."""
    browser = login(Client(), world.am_a)
    assert browser.get(reverse("case_list")).status_code == 200
    type(world.am_a).objects.filter(pk=world.am_a.pk).update(is_active=False)
    assert logged_out(browser.get(reverse("case_list")))
    assert SESSION_KEY not in browser.session


def test_the_idle_limit_holds_whatever_the_store_keeps(world, engine, login, settings):
    browser = login(Client(), world.am_a)
    assert browser.get(reverse("case_list")).status_code == 200
    session = browser.session
    session[SEEN_AT_SESSION_KEY] = time.time() - settings.SESSION_COOKIE_AGE - settings.SESSION_RENEW_SECONDS - 1
    session.save()  # the store still has it, as a cached copy could
    assert logged_out(browser.get(reverse("case_list")))


def test_with_cached_db_a_page_reads_no_session_row(world, engine, login):
    browser = login(Client(), world.am_a)
    browser.get(reverse("case_list"))
    with CaptureQueriesContext(connection) as queries:
        assert browser.get(reverse("case_list")).status_code == 200
    session_reads = [q for q in queries.captured_queries if "django_session" in q["sql"]]
    assert len(session_reads) == (0 if engine == "cached_db" else 1)


def test_a_session_copy_lives_at_most_session_cache_seconds(settings):
    from config.cache import SessionRedisCache

    cache = SessionRedisCache("redis://127.0.0.1:1/0", {})
    settings.SESSION_CACHE_SECONDS = 300
    assert cache._capped(30 * 60) == 300
    assert cache._capped(None) == 300
    assert cache._capped(10) == 10


def test_sessions_keep_working_while_the_session_cache_does_not_answer(world, settings, login):
    from audit.models import CacheFallbackEntry
    from config import cache as resilient

    url = dead_redis_url()
    resilient._down_until.pop(url, None)
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {"BACKEND": "config.cache.SessionRedisCache", "LOCATION": url, "KEY_PREFIX": "t-s"},
    }
    settings.SESSION_CACHE_ALIAS = "sessions"
    settings.SESSION_ENGINE = CACHED_DB
    try:
        browser = Client()
        assert browser.login(username="customer_x", password=PASSWORD)
        assert browser.get("/portal/").status_code == 200
        assert browser.get("/portal/").status_code == 200
        assert Session.objects.filter(session_key=browser.cookies["sessionid"].value).exists()
        # Nothing of the session went to the default cache's database fallback.
        assert not CacheFallbackEntry.objects.filter(cache_key__contains="cached_db").exists()
        member_remove(by=world.am_a, member=member(world.customer_x))
        assert logged_out(browser.get("/portal/"))
    finally:
        resilient._down_until.pop(url, None)


@pytest.mark.redis
def test_the_redis_client_object_is_kept_per_pool(redis_url):
    from config.cache import SessionRedisCache

    cache = SessionRedisCache(redis_url, {"KEY_PREFIX": "t-reuse"})
    cache.set("probe", {"a": 1}, 10)
    client = cache._redis._cache
    assert client.get_client("probe") is client.get_client("probe", write=True)
    assert cache.get("probe") == {"a": 1}
    cache.delete("probe")
    assert cache.get("probe") is None
