"""The calendar and the service levels moved to the `workcalendar` app: copy what the
administrators entered here over the new tables' seed, then drop the old tables."""

from django.db import migrations


def _copy(apps, source, target):
    OldSLA = apps.get_model(source, "StageSLA")
    OldDay = apps.get_model(source, "CalendarDay")
    NewSLA = apps.get_model(target, "StageSLA")
    NewDay = apps.get_model(target, "CalendarDay")
    for stage, days in OldSLA.objects.values_list("stage", "days"):
        NewSLA.objects.update_or_create(stage=stage, defaults={"days": days})
    new_days = {d.date: d for d in NewDay.objects.all()}
    create, update = [], []
    for date, is_workday, name in OldDay.objects.values_list("date", "is_workday", "name"):
        day = new_days.get(date)
        if day is None:
            create.append(NewDay(date=date, is_workday=is_workday, name=name))
        elif (day.is_workday, day.name) != (is_workday, name):
            day.is_workday, day.name = is_workday, name
            update.append(day)
    NewDay.objects.bulk_create(create, batch_size=1000)
    NewDay.objects.bulk_update(update, ["is_workday", "name"], batch_size=1000)


def forward(apps, schema_editor):
    _copy(apps, "reminders", "workcalendar")


def backward(apps, schema_editor):
    _copy(apps, "workcalendar", "reminders")


class Migration(migrations.Migration):
    dependencies = [
        ("reminders", "0002_seed_sla_and_calendar"),
        ("workcalendar", "0002_seed_sla_and_calendar"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
        migrations.DeleteModel(name="CalendarDay"),
        migrations.DeleteModel(name="StageSLA"),
    ]
