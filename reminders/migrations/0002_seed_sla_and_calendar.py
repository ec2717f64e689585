"""Default service levels (domain.md) and the official calendar as far as `chinesecalendar` knows it."""

from django.db import migrations

DEFAULT_SLA_DAYS = {
    "branch_intake": 5,
    "head_office_approval": 5,
    "test_package_issuance": 3,
    "joint_testing": 15,
    "ukey_issuance": 5,
    "production_verification": 5,
}


def seed(apps, schema_editor):
    StageSLA = apps.get_model("reminders", "StageSLA")
    for stage, days in DEFAULT_SLA_DAYS.items():
        StageSLA.objects.get_or_create(stage=stage, defaults={"days": days})
    from workcalendar.calendar_seed import seed_from_chinesecalendar

    seed_from_chinesecalendar(apps.get_model("reminders", "CalendarDay"))


class Migration(migrations.Migration):
    dependencies = [("reminders", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
