"""`Enterprise` and `SettlementAccount` now live in `companies` (see companies.0001): the case's
foreign key points there and the models leave `onboarding`'s state. The tables stay."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0002_counter_testing"),
        ("companies", "0001_initial"),
        # Every other foreign key to the old model is moved first.
        ("accounts", "0003_enterprise_in_companies"),
        ("portal", "0003_enterprise_in_companies"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="onboardingcase",
                    name="enterprise",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cases",
                        to="companies.enterprise",
                        verbose_name="企业",
                    ),
                ),
                migrations.DeleteModel(name="SettlementAccount"),
                migrations.DeleteModel(name="Enterprise"),
            ],
            database_operations=[],
        ),
    ]
