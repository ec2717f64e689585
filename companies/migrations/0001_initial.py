"""`Enterprise` and `SettlementAccount` move here from `onboarding`, keeping their tables.

Only Django's idea of the models moves (state operations); the database is not touched,
except that the content types follow the models so admin log entries and permissions stay
attached. `onboarding.0003_move_companies` removes the models from `onboarding`'s state.
"""

from __future__ import annotations

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import companies.validators


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("enterprise", "settlementaccount"):
        ContentType.objects.using(schema_editor.connection.alias).filter(
            app_label="onboarding", model=model
        ).update(app_label="companies")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("enterprise", "settlementaccount"):
        ContentType.objects.using(schema_editor.connection.alias).filter(
            app_label="companies", model=model
        ).update(app_label="onboarding")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("branches", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("onboarding", "0002_counter_testing"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Enterprise",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=200, verbose_name="企业名称")),
                        ("registered_address", models.CharField(blank=True, max_length=300, verbose_name="注册地址")),
                        ("legal_rep_name", models.CharField(max_length=60, verbose_name="法定代表人")),
                        (
                            "legal_rep_id_number",
                            models.CharField(
                                max_length=18,
                                validators=[companies.validators.validate_resident_id],
                                verbose_name="法定代表人身份证号",
                            ),
                        ),
                        ("handler_name", models.CharField(max_length=60, verbose_name="经办人")),
                        (
                            "handler_id_number",
                            models.CharField(
                                max_length=18,
                                validators=[companies.validators.validate_resident_id],
                                verbose_name="经办人身份证号",
                            ),
                        ),
                        ("handler_phone", models.CharField(blank=True, max_length=30, verbose_name="经办人电话")),
                        ("authorisation_valid_from", models.DateField(blank=True, null=True, verbose_name="授权委托书生效日")),
                        ("authorisation_valid_until", models.DateField(blank=True, null=True, verbose_name="授权委托书到期日")),
                        (
                            "authorisation_covers_ebanking",
                            models.BooleanField(default=False, verbose_name="授权范围包含电子银行业务"),
                        ),
                        ("contact_name", models.CharField(blank=True, max_length=60, verbose_name="联系人")),
                        ("contact_phone", models.CharField(blank=True, max_length=30, verbose_name="联系电话")),
                        ("contact_email", models.EmailField(blank=True, max_length=254, verbose_name="联系邮箱")),
                        ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        (
                            "uscc",
                            models.CharField(
                                max_length=18,
                                unique=True,
                                validators=[companies.validators.validate_uscc],
                                verbose_name="统一社会信用代码",
                            ),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        (
                            "branch",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="enterprises",
                                to="branches.branch",
                                verbose_name="开户机构",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "企业",
                        "verbose_name_plural": "企业",
                        "db_table": "onboarding_enterprise",
                        "ordering": ["name"],
                    },
                ),
                migrations.CreateModel(
                    name="SettlementAccount",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("account_number", models.CharField(max_length=40, verbose_name="账号")),
                        ("account_name", models.CharField(max_length=200, verbose_name="户名")),
                        ("opening_branch", models.CharField(blank=True, max_length=100, verbose_name="开户行")),
                        (
                            "enterprise",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="accounts",
                                to="companies.enterprise",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "结算账户",
                        "verbose_name_plural": "结算账户",
                        "db_table": "onboarding_settlementaccount",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("enterprise", "account_number"), name="unique_account_per_enterprise"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
