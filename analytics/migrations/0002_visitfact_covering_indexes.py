"""Covering indexes for the cockpit's two grouping statements (PostgreSQL only).

`closed_cells` groups the visits that ended in a period by every dimension, and
`funnel_table` counts the visits of the cases taken in during a period; with every column
they read in the index, PostgreSQL answers both from the index alone (an index-only scan of
≈ 60 bytes per visit instead of the ≈ 250-byte table rows). SQLite keeps the plain indexes
declared on the model.
"""

from django.db import migrations

CLOSED = (
    "CREATE INDEX IF NOT EXISTS visitfact_closed_cover ON analytics_visitfact (left_at) "
    "INCLUDE (branch_id, stage, closed_by_id, modules_key, closed_with, tenths, bank_seconds, "
    "customer_seconds, within_sla, retests) WHERE left_at IS NOT NULL"
)
COHORT = (
    "CREATE INDEX IF NOT EXISTS visitfact_cohort_cover ON analytics_visitfact (case_started_at) "
    "INCLUDE (branch_id, stage, first_visit, closed_with)"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CLOSED)
        schema_editor.execute(COHORT)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS visitfact_closed_cover")
        schema_editor.execute("DROP INDEX IF EXISTS visitfact_cohort_cover")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
