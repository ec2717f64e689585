"""The logged-in user answered from Redis (config/usercache.py) is never a user whose row has
changed since: deactivated, given a new password or changed by another process.

Transactional database: these writes commit, as in production.
"""

from __future__ import annotations

import pytest
from django.contrib import auth
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config import usercache

pytestmark = pytest.mark.django_db(transaction=True)


def _user_reads(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    reads = sum(1 for q in ctx.captured_queries if 'FROM "accounts_user" WHERE "accounts_user"."id" =' in q["sql"])
    return response.status_code, reads


def test_the_second_request_reads_no_user_row(client, world) -> None:
    client.force_login(world.am_a)
    assert _user_reads(client, reverse("home")) == (200, 1)
    assert _user_reads(client, reverse("home")) == (200, 0)


def test_a_user_deactivated_by_an_update_is_logged_out_at_once(client, world) -> None:
    client.force_login(world.am_a)
    client.get(reverse("home"))
    assert _user_reads(client, reverse("home"))[1] == 0  # answered from Redis
    type(world.am_a).objects.filter(pk=world.am_a.pk).update(is_active=False)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_new_password_ends_the_other_sessions(client, world) -> None:
    client.force_login(world.am_a)
    client.get(reverse("home"))
    assert _user_reads(client, reverse("home"))[1] == 0
    user = type(world.am_a).objects.get(pk=world.am_a.pk)
    user.set_password("一个全新的密码-2026")
    user.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302


def test_a_copy_read_before_a_deactivation_committed_is_never_used(client, world, monkeypatch) -> None:
    client.force_login(world.am_a)
    real = auth.get_user

    def racing(request):
        user = real(request)  # read the row ...
        type(user).objects.filter(pk=user.pk).update(is_active=False)  # ... then another request commits
        return user

    monkeypatch.setattr(usercache.auth, "get_user", racing)
    assert client.get(reverse("home")).status_code == 200  # this request still had the row it read
    monkeypatch.setattr(usercache.auth, "get_user", real)
    response = client.get(reverse("home"))
    assert response.status_code == 302  # the stored copy is from before the deactivation: not used


def test_a_role_taken_away_is_refused_on_the_next_request(client, world) -> None:
    from django.contrib.auth.models import Group

    client.force_login(world.am_a)
    assert client.get(reverse("case_new")).status_code == 200
    assert _user_reads(client, reverse("case_new")) == (200, 0)  # the user and roles from Redis
    world.am_a.groups.remove(Group.objects.get(name="account_manager"))
    assert client.get(reverse("case_new")).status_code == 403


def test_a_bank_systems_roles_are_kept_and_a_role_taken_away_empties_its_list_at_the_next_call(world) -> None:
    """A bank system's API client reads its service account's roles from the kept copy (no
    statement of `auth_group` after the first call), and a role taken from the account shows
    at the next call: its case list, scoped by the roles, is empty."""
    from django.contrib.auth.models import Group

    from api.services import api_client_create
    from branches.roles import Role
    from onboarding.states import State
    from tests.api_helpers import Api, api_token

    world.case(State.BRANCH_INTAKE)
    creds = api_client_create(name="bank", scopes=["read"], branch=world.head_office, roles=[Role.HEAD_OFFICE_APPROVER])
    api = Api(api_token(creds.client_id, creds.client_secret))
    assert api.get("/api/v1/cases/").json()["results"]
    with CaptureQueriesContext(connection) as ctx:
        assert api.get("/api/v1/cases/").json()["results"]
    assert not [q for q in ctx.captured_queries if '"auth_group"' in q["sql"]]
    creds.client.user.groups.remove(Group.objects.get(name=Role.HEAD_OFFICE_APPROVER))
    assert api.get("/api/v1/cases/").json()["results"] == []


def test_a_login_elsewhere_keeps_the_copy_but_another_write_to_the_user_table_does_not(client, world) -> None:
    """A login writes `last_login` (Django's `update_last_login`): nothing checks it, so it must
    not make every user's copy stale (issue 26). Any other write to the user table does."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    client.force_login(world.am_a)
    client.get(reverse("home"))
    assert _user_reads(client, reverse("home")) == (200, 0)
    other = Client()
    other.force_login(world.am_b)  # really writes am_b's last_login
    assert _user_reads(client, reverse("home")) == (200, 0)
    get_user_model().objects.filter(pk=world.am_b.pk).update(first_name="改")
    assert _user_reads(client, reverse("home")) == (200, 1)  # read again, then kept
    assert _user_reads(client, reverse("home")) == (200, 0)
    user = get_user_model().objects.get(pk=world.am_b.pk)
    user.last_login, user.is_active = timezone.now(), False
    user.save(update_fields=["last_login", "is_active"])
    assert _user_reads(client, reverse("home")) == (200, 1)


def test_writes_to_other_tables_keep_the_copy(client, world) -> None:
    from notices.services import notices_create

    client.force_login(world.am_a)
    client.get(reverse("home"))
    notices_create(recipients=[world.am_a], case_id=None, kind="info", text="请处理")
    assert _user_reads(client, reverse("home")) == (200, 0)


def test_a_customer_sees_their_company_in_the_top_bar_and_a_new_name_at_the_next_request(client, world) -> None:
    from companies.models import Enterprise

    client.force_login(world.customer_x)
    client.get(reverse("portal:home"))
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("portal:home")).content.decode()
    assert '<span class="who">customer_x · 甲公司</span>' in page
    assert not [q for q in ctx.captured_queries if 'FROM "onboarding_enterprise"' in q["sql"]]  # from the copy
    Enterprise.objects.filter(pk=world.company_x.pk).update(name="甲公司(新名)")
    page = client.get(reverse("portal:home")).content.decode()
    assert '<span class="who">customer_x · 甲公司(新名)</span>' in page


def test_a_rolled_back_deactivation_changes_nothing_and_an_open_one_reads_the_row(client, world) -> None:
    from django.db import transaction

    client.force_login(world.am_a)
    client.get(reverse("home"))
    with pytest.raises(RuntimeError), transaction.atomic():
        type(world.am_a).objects.filter(pk=world.am_a.pk).update(first_name="未提交")
        assert _user_reads(client, reverse("home"))[1] == 1  # inside the writing transaction: the row
        raise RuntimeError
    assert _user_reads(client, reverse("home")) == (200, 0)


def test_without_redis_the_user_is_read_from_the_database(client, world, monkeypatch) -> None:
    import time

    from django.core.cache.backends.redis import RedisCache

    from config import cache as shared_cache

    dead = RedisCache(  # nothing listens there
        "redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}
    )
    monkeypatch.setattr(usercache, "cache", lambda: dead)
    try:
        client.force_login(world.am_a)
        assert _user_reads(client, reverse("home")) == (200, 1)
        assert _user_reads(client, reverse("home")) == (200, 1)
        assert usercache._down_until > time.monotonic()  # the outage was noticed, not raised
        assert usercache.enabled() is False  # and Redis is left alone for a while
    finally:
        usercache._down_until = 0.0
        shared_cache._down_until.pop(usercache._location(), None)  # (marked for every client, with Redis)


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ('INSERT INTO "accounts_user_groups" ("user_id", "group_id") VALUES (%s, %s)', {"accounts_user_groups"}),
        ('UPDATE "accounts_user" SET "is_active" = %s', {"accounts_user"}),
        ('DELETE FROM "auth_group" WHERE id = 1', {"auth_group"}),
        ("TRUNCATE accounts_user", None),
        ("WITH due AS (SELECT 1) INSERT INTO branches_branch SELECT * FROM due", {"branches_branch"}),
        ("WITH x AS (SELECT 1) SELECT * FROM x", set()),
        ('SELECT * FROM "accounts_user" FOR UPDATE', set()),
        ('UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"."id" = %s', set()),
        (
            'UPDATE "accounts_user" SET "last_login" = %s, "is_active" = %s WHERE "accounts_user"."id" = %s',
            {"accounts_user"},
        ),
        (
            'UPDATE "accounts_user" SET "last_login" = %s WHERE "accounts_user"."id" = %s; DELETE FROM x',
            {"accounts_user", "x"},
        ),
        ('UPDATE "accounts_user" SET "last_login" = %s', {"accounts_user"}),
    ],
)
def test_the_tables_a_statement_writes(sql: str, tables: set[str] | None) -> None:
    assert usercache.written_tables(sql) == (None if tables is None else frozenset(tables))
