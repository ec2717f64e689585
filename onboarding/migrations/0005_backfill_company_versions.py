"""Every existing company gets version 1 holding its data as it is now, and every existing
case points to it. (Before versions, the company row was all there was: for a case already
past intake this is the best record left of what was approved.)"""

from __future__ import annotations

from django.db import migrations

FIELDS = (
    "name",
    "uscc",
    "registered_address",
    "legal_rep_name",
    "legal_rep_id_number",
    "handler_name",
    "handler_id_number",
    "handler_phone",
    "authorisation_valid_from",
    "authorisation_valid_until",
    "authorisation_covers_ebanking",
    "contact_name",
    "contact_phone",
    "contact_email",
)


def backfill(apps, schema_editor):
    Enterprise = apps.get_model("companies", "Enterprise")
    CompanyVersion = apps.get_model("companies", "CompanyVersion")
    OnboardingCase = apps.get_model("onboarding", "OnboardingCase")
    db = schema_editor.connection.alias
    for enterprise in Enterprise.objects.using(db).order_by("pk"):
        version = CompanyVersion.objects.using(db).filter(enterprise=enterprise).order_by("-number").first()
        if version is None:
            version = first_version(CompanyVersion, enterprise, db)
        OnboardingCase.objects.using(db).filter(enterprise=enterprise, company_version__isnull=True).update(
            company_version=version
        )


def first_version(CompanyVersion, enterprise, db):
    accounts = [
        {"account_number": a.account_number, "account_name": a.account_name, "opening_branch": a.opening_branch}
        for a in enterprise.accounts.order_by("pk")
    ]
    return CompanyVersion.objects.using(db).create(
        enterprise=enterprise,
        number=1,
        accounts=accounts,
        created_at=enterprise.created_at,
        **{f: getattr(enterprise, f) for f in FIELDS},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0004_company_version_change_request"),
        ("companies", "0003_version_append_only_trigger"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
