"""Two PostgreSQL roles: the app connects as one that owns nothing; migrations run as the owner.

The evidence triggers (config/evidence.py) stop ordinary accounts, not the tables' owner or a
superuser: either can `ALTER TABLE … DISABLE TRIGGER USER`, drop a trigger, or set
`session_replication_role = replica`, which silences every trigger at once. So in production
`DATABASE_URL` names a role that owns nothing and is not a superuser, and
`MIGRATE_DATABASE_URL` the role that owns the tables (README, "Running it for real"):

- `manage.py migrate` (config/management/commands/migrate.py) connects as the owner, migrates,
  then grants the app's role what it needs on every table and sequence, now and later
  (`app_role_grant`), and closes `pgtrigger.ignore` to everyone but the owner
  (`ignore_guard_install`);
- `manage.py check --deploy` warns when the app's role is a superuser or can act as the owner
  of a protected table (config/checks.py, `role_problems`).

`pgtrigger.ignore` lifts a trigger by a setting that any role may set
(`SET LOCAL pgtrigger.ignore = '{…}'`, read by pgtrigger's `_pgtrigger_should_ignore`), so as
pgtrigger installs it a role that owns nothing could still switch a trigger off. The guard
replaces that function (after every migration: pgtrigger writes it again with each trigger it
installs) with one that honours the setting only for a role that could drop the trigger anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

# Written by `ignore_guard_install` into its function, so a test (and an administrator) can tell
# the guarded function from pgtrigger's own.
GUARD_MARK = "onboarding: honoured only for the table's owner"
GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}._pgtrigger_should_ignore(trigger_name NAME)
RETURNS BOOLEAN AS $$
    -- {mark} (config/dbroles.py)
    DECLARE
        _pgtrigger_ignore TEXT[];
    BEGIN
        BEGIN
            SELECT INTO _pgtrigger_ignore CURRENT_SETTING('pgtrigger.ignore');
            EXCEPTION WHEN OTHERS THEN
        END;
        IF _pgtrigger_ignore IS NULL OR NOT (trigger_name = ANY(_pgtrigger_ignore)) THEN
            RETURN FALSE;
        END IF;
        RETURN EXISTS (
            SELECT 1 FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
            WHERE t.tgname = trigger_name
              AND pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')
        );
    END;
$$ LANGUAGE plpgsql
"""


def owner_credentials() -> dict[str, str] | None:
    """The owner's USER and PASSWORD (from MIGRATE_DATABASE_URL), or None when the app owns the tables."""
    owner = getattr(settings, "DATABASE_OWNER", None)
    return dict(owner) if owner else None


@contextmanager
def connected_as_owner(connection: Any) -> Iterator[str | None]:
    """Connect `connection` as the tables' owner inside the block, as before after it.

    Yields the app's role (the user of DATABASE_URL) when the owner is another role, else None.
    Only between transactions: the connection is closed on the way in and out.
    """
    owner = owner_credentials()
    app_role = getattr(settings, "DATABASE_APP_ROLE", "")
    if connection.vendor != "postgresql" or owner is None or owner["USER"] == app_role:
        yield None
        return
    settings_dict = connection.settings_dict
    before = {"USER": settings_dict.get("USER") or "", "PASSWORD": settings_dict.get("PASSWORD") or ""}
    if before["USER"] == owner["USER"]:
        yield app_role  # already the owner (the test suite's set-up)
        return
    connection.close()
    settings_dict.update(owner)
    try:
        yield app_role
    finally:
        connection.close()
        settings_dict.update(before)


def app_role_grant(cursor: Any, role: str) -> None:
    """What the app's role may do: read and write rows (the triggers decide which), use the
    sequences; on every table the owner has made and will make. No TRUNCATE, no DDL."""
    quoted = _quote_ident(role)
    for sql in (
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ):
        cursor.execute(sql.format(role=quoted))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ignore_guard_install(cursor: Any) -> None:
    """Replace pgtrigger's `_pgtrigger_should_ignore` with one that honours `pgtrigger.ignore`
    only for a role that is (or may become) the owner of the trigger's table, or a superuser."""
    schema = _quote_ident(getattr(settings, "PGTRIGGER_SCHEMA", "public"))
    cursor.execute(GUARD_FUNCTION.format(schema=schema, mark=GUARD_MARK))


def after_migrate(connection: Any, app_role: str | None) -> None:
    """What `migrate` does as the owner once the migrations ran (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        ignore_guard_install(cursor)
        if app_role:
            app_role_grant(cursor, app_role)


def protected_tables() -> list[str]:
    import pgtrigger

    return sorted({model._meta.db_table for model, _trigger in pgtrigger.registered()})


def role_problems(cursor: Any) -> tuple[str, bool, list[str]]:
    """The role the connection acts as, whether it is a superuser, and the protected tables it
    owns or may act as the owner of (a member of the owning role)."""
    cursor.execute("SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")
    role, superuser = cursor.fetchone()
    cursor.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = ANY(%s) "
        "AND pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') ORDER BY c.relname",
        [protected_tables()],
    )
    return role, bool(superuser), [name for (name,) in cursor.fetchall()]
