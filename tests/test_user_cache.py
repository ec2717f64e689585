"""The logged-in user answered from Redis (config/usercache.py) is never a user whose row has
changed since: deactivated, given a new password or changed by another process.

Transactional database: these writes commit, as in production.
"""

from __future__ import annotations

import pytest
from django.contrib import auth
from django.db import connection
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
