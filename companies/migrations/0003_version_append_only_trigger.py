"""Company versions are the record a case was approved on: on PostgreSQL the database refuses
UPDATE and DELETE on them (the function comes from audit's append-only migration)."""

from __future__ import annotations

from django.db import migrations

TABLE = "companies_companyversion"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};")


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0002_companyversion"),
        ("audit", "0002_append_only_triggers"),
    ]

    operations = [migrations.RunPython(create, drop)]
