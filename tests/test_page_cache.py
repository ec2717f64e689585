"""Pages served again from the cache (config/pagecache.py) are never older than the last
committed write, never another reader's, and never stand in for a check.

These tests commit (transactional database), as requests in production do: inside the usual
test transaction nothing is ever committed, and the cache rightly steps aside.
"""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config import cache as shared_cache
from config import pagecache
from notices.services import notices_create
from onboarding import services
from onboarding.states import State

pytestmark = pytest.mark.django_db(transaction=True)


def _get(client: Client, url: str) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode(), len(ctx.captured_queries)


def _csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_a_page_is_served_again_until_a_write_commits_then_shows_it(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_a)
    url = reverse("case_list")
    _get(client, url)  # the first page gives the browser its CSRF cookie: not stored without one
    first, computed = _get(client, url)
    again, served = _get(client, url)
    assert again == first and served < computed and served <= 4
    assert str(State.BRANCH_INTAKE.label) in first
    # A colleague's request, committed, changes the case.
    services.case_transition(case=case, user=world.am_a2, name="suspend", reason="客户要求暂停")
    after, recomputed = _get(client, url)
    assert after != first and recomputed == computed
    rows_before, rows_after = first.split("<tbody", 1)[1], after.split("<tbody", 1)[1]
    assert str(State.SUSPENDED.label) in rows_after and str(State.SUSPENDED.label) not in rows_before


def test_a_notice_rings_the_bell_of_a_stored_page_which_stays_stored(client, world) -> None:
    client.force_login(world.am_a)
    url = reverse("case_list")
    _get(client, url)
    page, computed = _get(client, url)
    assert "has-unread" not in page
    notices_create(recipients=[world.am_a], case_id=None, kind="info", text="请处理")
    page, served = _get(client, url)
    assert "has-unread" in page  # the bell is drawn fresh into the stored page
    assert served < computed


def test_a_page_is_stale_only_when_a_table_it_read_is_written(client, world) -> None:
    from analytics.models import CockpitSnapshot

    world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_a)
    url = reverse("case_list")
    _get(client, url)
    _, computed = _get(client, url)
    CockpitSnapshot.objects.all().delete()  # a table the case list does not read
    _, served = _get(client, url)
    assert served < computed


def test_a_rolled_back_write_changes_nothing_and_an_open_one_is_not_served(client, world) -> None:
    client.force_login(world.am_a)
    url = reverse("notification_list")
    _get(client, url)
    first, _ = _get(client, url)
    with pytest.raises(RuntimeError), transaction.atomic():
        notices_create(recipients=[world.am_a], case_id=None, kind="info", text="未提交的通知")
        # Inside the writing transaction the page is computed, with what it wrote ...
        inside, _ = _get(client, url)
        assert "未提交的通知" in inside
        raise RuntimeError
    # ... and after the rollback nobody is served what was never committed.
    after, _ = _get(client, url)
    assert "未提交的通知" not in after and after == first


def test_each_reader_gets_their_own_page(client, world) -> None:
    world.case(State.BRANCH_INTAKE)
    other = Client()
    client.force_login(world.am_a)
    other.force_login(world.am_b)
    url = reverse("case_list")
    mine, _ = _get(client, url)
    _get(client, url)
    theirs, _ = _get(other, url)
    assert world.company_x.name in mine
    assert world.company_x.name not in theirs  # branch B does not see branch A's case


def test_two_browsers_of_one_person_each_get_forms_they_can_post(world) -> None:
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    for browser in (first, second):
        browser.force_login(world.am_a)
        _get(browser, reverse("home"))  # the CSRF cookie
    page_one, _ = _get(first, reverse("home"))
    page_two, _ = _get(second, reverse("home"))
    # Each logs out with the token of its own page (the logout form is on every page).
    for browser, page in ((first, page_one), (second, page_two)):
        response = browser.post(reverse("logout"), {"csrfmiddlewaretoken": _csrf_token(page)})
        assert response.status_code == 302


def test_a_message_waiting_is_shown_not_a_stored_page(client, world) -> None:
    case = world.case(State.DRAFT)
    client.force_login(world.am_a)
    detail = reverse("case_detail", args=[case.public_id])
    _get(client, detail)
    _get(client, detail)
    # A refused action leaves a message for the next page.
    client.post(reverse("case_transition", args=[case.public_id, "endorse"]), {"version": case.version})
    page, _ = _get(client, detail)
    assert 'class="messages"' in page


def test_the_case_page_checks_who_may_see_it_before_a_stored_page_is_served(client, world, monkeypatch) -> None:
    from onboarding import selectors

    case = world.case(State.BRANCH_INTAKE)
    detail = reverse("case_detail", args=[case.public_id])
    other = Client()
    other.force_login(world.am_b)
    assert other.get(detail).status_code == 404  # another branch's reader: refused
    client.force_login(world.am_a)
    _get(client, detail)
    _, computed = _get(client, detail)
    _, served = _get(client, detail)
    assert served < computed  # stored
    seen = []
    monkeypatch.setattr(selectors, "case_visible_from", lambda user, **facts: seen.append(facts) or False)
    assert client.get(detail).status_code == 404  # the stored page is not served past the check
    assert pagecache.enabled()  # a refusal is an answer, not a Redis outage
    assert seen == [{"branch_path": world.branch_a.path, "enterprise_id": world.company_x.pk}]


def test_case_visibility_from_the_stored_facts(world) -> None:
    from onboarding import selectors

    facts = {"branch_path": world.branch_a.path, "enterprise_id": world.company_x.pk}
    assert selectors.case_visible_from(world.am_a, **facts)
    assert selectors.case_visible_from(world.supervisor, **facts)  # the tier-1 above branch A
    assert selectors.case_visible_from(world.approver, **facts)  # head office
    assert selectors.case_visible_from(world.customer_x, **facts)
    assert not selectors.case_visible_from(world.am_b, **facts)
    assert not selectors.case_visible_from(world.supervisor_other, **facts)
    assert not selectors.case_visible_from(world.customer_y, **facts)


def test_languages_are_stored_apart(client, world) -> None:
    client.force_login(world.am_a)
    chinese, _ = _get(client, reverse("case_list"))
    client.cookies["django_language"] = "en"
    english, _ = _get(client, reverse("case_list"))
    assert "案件列表" in chinese and "案件列表" not in english


def test_the_clock_moves_pages_on_without_any_write(client, world, settings) -> None:
    from freezegun import freeze_time

    client.force_login(world.am_a)
    url = reverse("case_list")
    with freeze_time(timezone.now()) as frozen:
        _get(client, url)
        _, computed = _get(client, url)
        _, served = _get(client, url)
        assert served < computed
        frozen.tick(settings.PAGE_CACHE_SECONDS + 1)
        _, later = _get(client, url)  # computed again (and the session's expiry renewed)
        assert later >= computed


def test_without_redis_pages_are_computed(client, world, monkeypatch) -> None:
    from django.core.cache.backends.redis import RedisCache

    dead = RedisCache(  # nothing listens there
        "redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}
    )
    monkeypatch.setattr(pagecache, "cache", lambda: dead)
    try:
        case = world.case(State.BRANCH_INTAKE)
        client.force_login(world.am_a)
        page, _ = _get(client, reverse("case_list"))
        page, _ = _get(client, reverse("case_list"))
        assert case.reference in page
        assert pagecache._down_until > time.monotonic()  # the outage was noticed, not raised
        assert pagecache.enabled() is False  # and Redis is left alone for a while
    finally:
        pagecache._down_until = 0.0
        shared_cache._down_until.pop(pagecache._location(), None)  # (marked for every client, with Redis)


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ('INSERT INTO "onboarding_caseevent" ("case_id") VALUES (%s)', True),
        ('UPDATE "notices_notification" SET "read_at" = %s', True),
        ('DELETE FROM "onboarding_stagevisit" WHERE id = 1', True),
        ("TRUNCATE onboarding_caseevent", True),
        ("WITH due AS (SELECT 1) INSERT INTO reminders_reminder SELECT * FROM due", True),
        ('UPDATE "django_session" SET "expire_date" = %s', False),
        ('INSERT INTO "audit_cachefallbackentry" VALUES (%s)', False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ('SELECT * FROM "onboarding_onboardingcase" FOR UPDATE', False),
    ],
)
def test_writes_are_told_from_reads(sql: str, write: bool) -> None:
    assert pagecache.is_write(sql) is write


def test_the_tables_a_write_touches() -> None:
    sweep = (
        "WITH due AS (SELECT v.id FROM onboarding_stagevisit v), claimed AS (INSERT INTO reminders_reminder "
        'SELECT * FROM due RETURNING id), ev AS (INSERT INTO "onboarding_caseevent" SELECT 1) '
        "UPDATE notices_notification SET read_at = NULL"
    )
    assert pagecache.written_tables(sweep) == {"reminders_reminder", "onboarding_caseevent", "notices_notification"}
    assert pagecache.written_tables("TRUNCATE a, b") is None  # unknown reach: everything is stale
    assert pagecache.written_tables('UPDATE "django_session" SET x = 1') == frozenset()


def test_a_page_that_makes_a_message_is_not_stored(client, world) -> None:
    """A bad filter makes the case list say so (a message): the next visit must not repeat it."""
    from django.contrib import messages

    from config.pagecache import cached_page

    request_factory_page = []

    def build_with_message(request):
        messages.warning(request, "只此一次")
        request_factory_page.append(1)
        from django.http import HttpResponse

        return HttpResponse("<p>page</p>")

    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    client.force_login(world.am_a)
    for _ in range(2):
        request = RequestFactory().get("/x")
        request.user = world.am_a
        request.session = client.session
        request._messages = FallbackStorage(request)
        request.META["CSRF_COOKIE"] = "benchCSRFsecret0123456789abcdefg"
        cached_page(request, "x", lambda r=request: build_with_message(r))
    assert len(request_factory_page) == 2  # computed both times: the first was not stored


def test_a_login_does_not_make_pages_stale_but_other_user_writes_do(client, world) -> None:
    """A login writes `last_login` (Django's `update_last_login`): no page shows it, so it must
    not make every stored page stale (issue 26). Any other write to the user table still does."""
    from django.contrib.auth import get_user_model

    world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_a)
    url = reverse("case_list")
    _get(client, url)  # the CSRF cookie
    first, computed = _get(client, url)
    _, served = _get(client, url)
    assert served < computed
    # Someone else logs in: the login really writes the user row's last_login ...
    other = Client()
    with CaptureQueriesContext(connection) as ctx:
        other.force_login(world.am_b)
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('UPDATE "accounts_user"')]
    assert writes and all('"last_login"' in sql for sql in writes), ctx.captured_queries
    # ... and the stored page is still served.
    again, still_served = _get(client, url)
    assert again == first and still_served <= served
    # A change of another column of the user table (by update(), and by save() together with
    # last_login) makes the page computed again.
    get_user_model().objects.filter(pk=world.am_b.pk).update(first_name="改")
    _, recomputed = _get(client, url)
    assert recomputed >= computed  # the page (and the user's copy) read again
    _, served_again = _get(client, url)
    assert served_again <= served
    user = get_user_model().objects.get(pk=world.am_b.pk)
    user.last_login, user.is_active = timezone.now(), False
    user.save(update_fields=["last_login", "is_active"])
    _, recomputed = _get(client, url)
    assert recomputed >= computed


def test_only_a_last_login_only_update_is_not_a_write() -> None:
    login = 'UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"."id" = %s'
    assert pagecache.written_tables(login) == frozenset()
    for sql in (
        'UPDATE "accounts_user" SET "last_login" = %s, "is_active" = %s WHERE "accounts_user"."id" = %s',
        'UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"."id" = %s; DELETE FROM x',
        'UPDATE "accounts_user" SET "last_login" = %s',
        'UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"."id" IN (SELECT 1)',
    ):
        assert pagecache.written_tables(sql), sql
