from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from notices import outbox
from notices.models import OutboxEmail
from reminders import services


class Command(BaseCommand):
    help = "Run one overdue sweep: remind holders, escalate, queue e-mail (safe to run any number of times)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--send", action="store_true", help="send the pending e-mail here instead of via a worker")

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.reminders_sweep()
        self.stdout.write(
            f"overdue visits: {result.overdue}, new reminders: {len(result.claimed)}, e-mails: {result.emails}"
        )
        if options["send"]:
            ids = list(OutboxEmail.objects.filter(sent_at__isnull=True).values_list("pk", flat=True))
            self.stdout.write(f"sent: {outbox.outbox_send(ids=ids)}")
        else:
            self.stdout.write(f"re-queued unsent e-mails: {outbox.outbox_flush()}")
