"""`Enterprise` moved to `companies` (same table): only Django's state changes."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_message_append_only_trigger"),
        ("companies", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="invitation",
                    name="enterprise",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="invitations",
                        to="companies.enterprise",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
