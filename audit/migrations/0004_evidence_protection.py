"""Evidence in the database itself (PostgreSQL), for the tables of audit, onboarding and portal:
TRUNCATE refused on the append-only tables that already refuse UPDATE/DELETE (case events,
access log, break-glass grants, case messages); approvals and joint-test results become
append-only. (Onboarding's and portal's tables are protected here, next to audit 0002, so
their own migration histories stay free for the write-path work.) See config/evidence_handwritten.py (replaced by pgtrigger)."""

from __future__ import annotations

from django.db import migrations

from config import evidence_handwritten as evidence

ALREADY_APPEND_ONLY = ["onboarding_caseevent", "audit_accessevent", "audit_breakglassgrant", "portal_casemessage"]
NEWLY_APPEND_ONLY = ["onboarding_approval", "onboarding_moduletestresult"]


def create(apps, schema_editor):
    for table in ALREADY_APPEND_ONLY:
        evidence.append_only(schema_editor, table, rows_already_protected=True)
    for table in NEWLY_APPEND_ONLY:
        evidence.append_only(schema_editor, table)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in ALREADY_APPEND_ONLY:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
    for table in NEWLY_APPEND_ONLY:
        evidence.unprotect_append_only(schema_editor, table)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_cache_fallback_and_kinds"),
        ("onboarding", "0002_counter_testing"),
        ("portal", "0002_message_append_only_trigger"),
    ]

    operations = [migrations.RunPython(create, drop)]
