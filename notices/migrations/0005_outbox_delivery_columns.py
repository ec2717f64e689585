"""The delivery kernel's columns on the mail outbox; nothing is lost.

Existing unsent rows are due at once. Rows the old outbox had stopped retrying (10 attempts or
more) are marked given up, as the kernel would have (an UPDATE the evidence triggers allow: the
row is unsent and only kernel columns change).
"""

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models


def _mark_given_up(apps, schema_editor):
    OutboxEmail = apps.get_model("notices", "OutboxEmail")
    OutboxEmail.objects.filter(sent_at__isnull=True, attempts__gte=10).update(
        given_up_at=django.utils.timezone.now(), last_error="gave up before the delivery kernel"
    )


class Migration(migrations.Migration):

    dependencies = [
        ('notices', '0004_lean_sweep_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='outboxemail',
            name='outbox_unsent_at_idx',
        ),
        migrations.AddField(
            model_name='outboxemail',
            name='given_up_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='outboxemail',
            name='last_error',
            field=models.CharField(blank=True, db_default='', default='', max_length=300),
        ),
        migrations.AddField(
            model_name='outboxemail',
            name='next_attempt_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), default=django.utils.timezone.now),
        ),
        migrations.AddIndex(
            model_name='outboxemail',
            index=models.Index(condition=models.Q(('given_up_at__isnull', True), ('sent_at__isnull', True)), fields=['next_attempt_at'], name='outbox_due_idx'),
        ),
        migrations.RunPython(_mark_given_up, migrations.RunPython.noop),
    ]
