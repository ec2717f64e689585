"""Document versions are evidence (kept 15 years or permanently): on PostgreSQL a version is
updated once, by its review (decision, reason, reviewer, time), and never deleted or truncated.
See config/evidence_handwritten.py (replaced by pgtrigger)."""

from __future__ import annotations

from django.db import migrations

from config import evidence_handwritten as evidence

TABLE = "documents_documentversion"


def create(apps, schema_editor):
    evidence.status_change_only(
        schema_editor,
        TABLE,
        when=("decision", ""),
        columns=["decision", "decision_reason", "reviewed_by_id", "reviewed_at"],
    )


def drop(apps, schema_editor):
    evidence.unprotect(schema_editor, TABLE)


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0001_initial"),
        ("audit", "0004_evidence_protection"),
    ]

    operations = [migrations.RunPython(create, drop)]
