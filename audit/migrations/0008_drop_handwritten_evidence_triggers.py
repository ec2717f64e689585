"""The evidence triggers are now declared in the models (`Meta.triggers`, django-pgtrigger; see
config/evidence.py) and installed by each app's `00NN_evidence_pgtrigger` migration. This one
removes the hand-written triggers and functions of the earlier migrations, so only pgtrigger's
remain. Reversing it puts the hand-written ones back."""

from __future__ import annotations

from django.db import migrations

from config import evidence_handwritten as handwritten

APPEND_ONLY = [
    "onboarding_caseevent",
    "audit_accessevent",
    "audit_breakglassgrant",
    "portal_casemessage",
    "onboarding_approval",
    "onboarding_moduletestresult",
]
APPEND_ONLY_NO_TRUNCATE_GUARD = ["companies_companyversion"]
STATUS_CHANGE_ONLY = {
    "counter_counterentry": (("status", "pending"), ["status", "checker_id", "checked_at", "cancelled_at"]),
    "documents_documentversion": (("decision", ""), ["decision", "decision_reason", "reviewed_by_id", "reviewed_at"]),
}
SUFFIXES = ["append_only", "no_truncate", "status_change_only", "no_delete"]
FUNCTIONS = ["audit_refuse_change()", "evidence_refuse_truncate()", "evidence_status_change_only()"]


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in [*APPEND_ONLY, *APPEND_ONLY_NO_TRUNCATE_GUARD, *STATUS_CHANGE_ONLY]:
        for suffix in SUFFIXES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table};")
    for function in FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function};")


def restore(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(handwritten.REFUSE_CHANGE, params=None)
    for table in APPEND_ONLY:
        handwritten.append_only(schema_editor, table)
    for table in APPEND_ONLY_NO_TRUNCATE_GUARD:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
        )
    for table, (when, columns) in STATUS_CHANGE_ONLY.items():
        handwritten.status_change_only(schema_editor, table, when=when, columns=columns)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_evidence_pgtrigger"),
        ("companies", "0003_version_append_only_trigger"),
        ("portal", "0002_message_append_only_trigger"),
        ("counter", "0002_evidence_protection"),
        ("documents", "0002_evidence_protection"),
    ]

    operations = [migrations.RunPython(drop, restore)]
