"""The hand-written evidence triggers of the first migrations (PostgreSQL), kept only for the
migrations that made them (audit 0002 and 0004, counter 0002, documents 0002; companies 0003
and portal 0002 rely on audit 0002's function) and for the migration that removed them (audit
0008). The protection itself is now declared in the models' `Meta.triggers` with
django-pgtrigger (config/evidence.py). Nothing but those migrations imports this module.

Here, below every app, rather than in audit's migrations: counter's and documents' migrations
use it too, and a migration imports only its own app and the apps below it
(tests/test_layers.py).

- `append_only(table)`: UPDATE and DELETE refused row by row (audit_refuse_change), TRUNCATE
  refused per statement unless the session says `SET evidence.allow_truncate = on`.
- `status_change_only(table, when=(column, value), columns=[...])`: a row may be updated once,
  while `column` still holds `value`, and only in `columns`; DELETE and TRUNCATE refused.
"""

from __future__ import annotations

from typing import Any

REFUSE_CHANGE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

FUNCTIONS = """
CREATE OR REPLACE FUNCTION evidence_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('evidence.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'rows of % are evidence: TRUNCATE refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION evidence_status_change_only() RETURNS trigger AS $$
DECLARE
    allowed text[] := TG_ARGV[2:TG_NARGS - 1];
BEGIN
    IF (to_jsonb(OLD) ->> TG_ARGV[0]) IS DISTINCT FROM TG_ARGV[1] THEN
        RAISE EXCEPTION 'rows of % are evidence: UPDATE refused once % is no longer %',
            TG_TABLE_NAME, TG_ARGV[0], quote_literal(TG_ARGV[1])
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (to_jsonb(NEW) - allowed) IS DISTINCT FROM (to_jsonb(OLD) - allowed) THEN
        RAISE EXCEPTION 'rows of % are evidence: only % may change', TG_TABLE_NAME, allowed
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _postgres(schema_editor: Any) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def create_functions(schema_editor: Any) -> None:
    # No placeholders: keep RAISE's % as is. The row-level refusal comes from audit 0002.
    schema_editor.execute(FUNCTIONS, params=None)


def protect_truncate(schema_editor: Any, table: str) -> None:
    schema_editor.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_refuse_truncate();"
    )


def append_only(schema_editor: Any, table: str, *, rows_already_protected: bool = False) -> None:
    if not _postgres(schema_editor):
        return
    create_functions(schema_editor)
    if not rows_already_protected:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
        )
    protect_truncate(schema_editor, table)


def status_change_only(schema_editor: Any, table: str, *, when: tuple[str, str], columns: list[str]) -> None:
    if not _postgres(schema_editor):
        return
    create_functions(schema_editor)
    args = ", ".join(f"'{a}'" for a in [when[0], when[1], *columns])
    schema_editor.execute(
        f"CREATE TRIGGER {table}_status_change_only BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION evidence_status_change_only({args});"
    )
    schema_editor.execute(
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
    )
    protect_truncate(schema_editor, table)


def unprotect(schema_editor: Any, table: str) -> None:
    if not _postgres(schema_editor):
        return
    for suffix in ("no_truncate", "status_change_only", "no_delete"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table};")


def unprotect_append_only(schema_editor: Any, table: str) -> None:
    if not _postgres(schema_editor):
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
