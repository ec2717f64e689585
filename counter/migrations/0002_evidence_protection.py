"""Counter entries are evidence (maker–checker): on PostgreSQL a row is updated only while
pending, and then only in the columns a confirm or cancel sets; never deleted or truncated.
See config/evidence_handwritten.py (replaced by pgtrigger)."""

from __future__ import annotations

from django.db import migrations

from config import evidence_handwritten as evidence

TABLE = "counter_counterentry"


def create(apps, schema_editor):
    evidence.status_change_only(
        schema_editor,
        TABLE,
        when=("status", "pending"),
        columns=["status", "checker_id", "checked_at", "cancelled_at"],
    )


def drop(apps, schema_editor):
    evidence.unprotect(schema_editor, TABLE)


class Migration(migrations.Migration):
    dependencies = [
        ("counter", "0001_initial"),
        ("audit", "0004_evidence_protection"),
    ]

    operations = [migrations.RunPython(create, drop)]
