"""The app connects as a PostgreSQL role that owns nothing; migrations run as the owner
(config/dbroles.py, README "Running it for real").

With MIGRATE_DATABASE_URL (CI: .ci/run) the suite itself runs as the app's role: the test
database is created and migrated as the owner, then every test connects as the role of
DATABASE_URL. These tests show what that role cannot do (switch the evidence triggers off in
any of the ways PostgreSQL offers), that the owner is still held by the triggers, and that
`check --deploy` tells the two apart."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import checks
from django.db import DatabaseError, connection, transaction

from config import dbroles
from config.checks import database_role
from onboarding.models import CaseEvent
from onboarding.states import State

pytestmark = pytest.mark.postgres

as_app_role = pytest.mark.skipif(
    not os.environ.get("MIGRATE_DATABASE_URL"),
    reason="runs as the app's role: set MIGRATE_DATABASE_URL to the owner and DATABASE_URL to a role that owns "
    "nothing (.ci/run does)",
)


def refusal(sql: str, params: list[Any] | None = None) -> str:
    """The database's refusal of the statement ('' when it went through), inside a savepoint."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, params)
    except DatabaseError as exc:
        return str(exc)
    return ""


@pytest.fixture
def event(world) -> CaseEvent:
    world.case(State.BRANCH_INTAKE)
    row = CaseEvent.objects.order_by("pk").first()
    assert row is not None
    return row


@pytest.fixture
def owner_connection(transactional_db: None) -> Iterator[str | None]:
    """The default connection as the tables' owner for the test, yielding the app's role (None
    when one role owns and runs the app). Committed rows: switching closes the connection."""
    with dbroles.connected_as_owner(connection) as app_role:
        yield app_role


# --- the app's role cannot switch the triggers off --------------------------------------------------


@as_app_role
def test_the_suite_runs_as_a_role_that_owns_nothing_and_is_not_a_superuser(db):
    with connection.cursor() as cur:
        role, superuser, owned = dbroles.role_problems(cur)
    assert (superuser, owned) == (False, [])
    assert role == connection.settings_dict["USER"] != dbroles.owner_credentials()["USER"]  # type: ignore[index]


@as_app_role
def test_the_app_role_cannot_silence_the_triggers(event):
    # Every trigger at once: only a superuser may set session_replication_role.
    assert "permission denied" in refusal("SET LOCAL session_replication_role = replica")
    # One table's triggers: only its owner may alter it.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'onboarding_caseevent'::regclass AND tgname LIKE 'pgtrigger_%%'"
        )
        trigger = cur.fetchone()[0]
    for sql in (
        "ALTER TABLE onboarding_caseevent DISABLE TRIGGER USER",
        "ALTER TABLE onboarding_caseevent DISABLE TRIGGER ALL",
        f"DROP TRIGGER {trigger} ON onboarding_caseevent",
        "DROP FUNCTION _pgtrigger_should_ignore(name) CASCADE",
    ):
        assert "must be owner" in refusal(sql), sql
    # Nor empty a table: TRUNCATE was never granted.
    assert "permission denied" in refusal("TRUNCATE onboarding_caseevent CASCADE")
    assert CaseEvent.objects.filter(pk=event.pk).exists()


@as_app_role
def test_the_app_role_cannot_lift_a_trigger_by_pgtriggers_setting(event):
    """`pgtrigger.ignore` is a setting any role may set: honoured only for the table's owner."""
    with connection.cursor() as cur:
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'onboarding_caseevent'::regclass")
        names = [name for (name,) in cur.fetchall()]
    lift = "SELECT set_config('pgtrigger.ignore', %s, true)"
    stamp = "{" + ",".join(names) + "}"
    message = refusal(f"{lift}; UPDATE onboarding_caseevent SET reason = 'rewritten' WHERE id = %s", [stamp, event.pk])
    assert "pgtrigger: Cannot update" in message
    message = refusal(f"{lift}; DELETE FROM onboarding_caseevent WHERE id = %s", [stamp, event.pk])
    assert "pgtrigger: Cannot update or delete" in message
    assert CaseEvent.objects.get(pk=event.pk).reason == event.reason


# --- the owner: migrations, and still held by the triggers unless it lifts them --------------------


def test_migrate_leaves_pgtriggers_setting_guarded(db):
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_functiondef('_pgtrigger_should_ignore(name)'::regprocedure)")
        (definition,) = cur.fetchone()
    assert dbroles.GUARD_MARK in definition


def test_the_owner_meets_the_triggers_and_may_lift_them_itself(event, owner_connection):
    """The owner (who could drop a trigger anyway) is refused like anyone, and the guarded
    setting still works for it: the test suite's flush lifts the TRUNCATE guards so."""
    import pgtrigger

    assert "pgtrigger: Cannot truncate" in refusal("TRUNCATE onboarding_caseevent CASCADE")
    assert "pgtrigger: Cannot update" in refusal("UPDATE onboarding_caseevent SET reason = 'x'")
    uri = "onboarding.CaseEvent:append_only"
    with transaction.atomic():
        with pgtrigger.ignore(uri), connection.cursor() as cur:
            cur.execute("UPDATE onboarding_caseevent SET reason = 'lifted' WHERE id = %s", [event.pk])
            assert cur.rowcount == 1
        transaction.set_rollback(True)
    assert CaseEvent.objects.get(pk=event.pk).reason == event.reason


def test_grants_give_the_app_role_rows_not_tables(event, owner_connection):
    app = owner_connection
    if app is None:
        pytest.skip("one role owns and runs the app here (no MIGRATE_DATABASE_URL)")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT has_table_privilege(%s, 'onboarding_caseevent', 'SELECT, INSERT, UPDATE, DELETE'), "
            "has_table_privilege(%s, 'onboarding_caseevent', 'TRUNCATE'), "
            "has_schema_privilege(%s, 'public', 'CREATE'), "
            "has_sequence_privilege(%s, pg_get_serial_sequence('onboarding_caseevent', 'id'), 'USAGE')",
            [app, app, app, app],
        )
        assert cur.fetchone() == (True, False, False, True)


# --- check --deploy ---------------------------------------------------------------------------------


def _ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [m.id for m in messages if m.id]


@as_app_role
def test_check_deploy_is_quiet_for_the_app_role(db):
    assert _ids(database_role()) == []


def test_check_deploy_warns_when_the_app_connects_as_the_owner(owner_connection):
    with connection.cursor() as cur:
        _role, superuser, owned = dbroles.role_problems(cur)
    assert superuser or owned  # the owner (CI) or the superuser (a developer's database)
    assert _ids(database_role()) == (["onboarding.W010"] if superuser else ["onboarding.W011"])
    assert "onboarding_caseevent" in owned
