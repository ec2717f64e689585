"""On PostgreSQL, refuse UPDATE and DELETE on the event tables in the database itself, so
no code path, shell session or admin can rewrite history. (TRUNCATE is left alone: test
databases are emptied with it.) Other databases rely on the models' own refusal."""

from __future__ import annotations

from django.db import migrations

from config.evidence_handwritten import REFUSE_CHANGE

TABLES = ["onboarding_caseevent", "audit_accessevent", "audit_breakglassgrant"]

FUNCTION = REFUSE_CHANGE  # config/evidence_handwritten.py (replaced by pgtrigger)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # no placeholders: keep RAISE's % as is
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS audit_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("onboarding", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
