"""`seed_demo` puts published credentials only where that is harmless."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from demo.management.commands import seed_demo


@pytest.fixture
def seed_calls(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(seed_demo, "seed", lambda: calls.append(1) or {"cases": 0})
    return calls


def test_refused_outside_debug_without_the_flag(db, settings, seed_calls):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("seed_demo")
    assert seed_calls == []
    assert not get_user_model().objects.filter(username="admin").exists()


def test_demo_flag_refuses_a_database_holding_real_users(world, settings, seed_calls):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="non-demo user"):
        call_command("seed_demo", "--demo")
    assert seed_calls == []


def test_demo_flag_seeds_an_empty_or_demo_only_database(db, settings, seed_calls):
    settings.DEBUG = False
    get_user_model().objects.create_user("am_bjhd")
    get_user_model().objects.create_user("ent07")
    call_command("seed_demo", "--demo")
    assert seed_calls == [1]


def test_debug_seeds_as_before(world, settings, seed_calls):
    settings.DEBUG = True
    call_command("seed_demo")
    assert seed_calls == [1]


@pytest.mark.parametrize(
    ("username", "demo"), [("admin", True), ("ho_tech", True), ("ent12", True), ("zhang.wei", False)]
)
def test_demo_usernames(username, demo):
    assert seed_demo.is_demo_username(username) is demo
