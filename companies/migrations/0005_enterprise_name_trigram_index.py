"""Search by company name (`name__icontains`, i.e. `UPPER(name) LIKE UPPER('%…%')`) uses a
trigram index on PostgreSQL instead of reading every company (pg_trgm is a trusted extension:
the database's owner may create it). SQLite has no such index and reads the table."""

from __future__ import annotations

from django.db import migrations

INDEX = "enterprise_name_trgm_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm;")
    schema_editor.execute(
        f'CREATE INDEX IF NOT EXISTS {INDEX} ON onboarding_enterprise USING gin ((UPPER("name"::text)) gin_trgm_ops);'
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX};")


class Migration(migrations.Migration):
    dependencies = [("companies", "0004_evidence_pgtrigger")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
