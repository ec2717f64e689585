"""Notifications are queued after commit so a rolled-back change never mails anyone."""

from __future__ import annotations

import logging

from django.db import transaction

from .models import CaseEvent

log = logging.getLogger(__name__)


def queue_event_notice(event: CaseEvent) -> None:
    from kombu.exceptions import OperationalError

    from .tasks import notify_event

    if _suppressed:
        return

    def send() -> None:
        try:
            notify_event.delay(event.pk)
        except OperationalError:
            # The change is committed and its event row stays; only the mail is late. The
            # reminder sweep will still chase the stage if nobody acts.
            log.exception("could not queue the notice for case event %s", event.pk)

    transaction.on_commit(send)


_suppressed = False


class suppressed:
    """Seed data replays weeks of history; nobody should be mailed about it."""

    def __enter__(self) -> None:
        global _suppressed
        _suppressed = True

    def __exit__(self, *exc: object) -> None:
        global _suppressed
        _suppressed = False


def is_suppressed() -> bool:
    return _suppressed
