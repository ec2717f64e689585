"""Keeping the read models current after every change to a case.

A receiver rather than a call in `onboarding.services`: the services are being rewritten and
this projection must not depend on their shape. It only reads, after the commit, and with
`robust=True` a failure is logged instead of turning a committed transition into an error
page; the nightly rebuild repairs any gap.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from .sources import CaseEvent

TRACKED_KINDS = (CaseEvent.Kind.TRANSITION, CaseEvent.Kind.RECORD, CaseEvent.Kind.EDITED)


@receiver(post_save, sender=CaseEvent, dispatch_uid="analytics_case_event")
def _case_event_saved(sender: Any, instance: CaseEvent, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not created or raw or instance.kind not in TRACKED_KINDS:
        return
    from .forecast import case_refresh

    transaction.on_commit(partial(case_refresh, instance.case_id), robust=True)
    transaction.on_commit(partial(_cockpit_case_changed, instance.case_id), robust=True)


def _cockpit_case_changed(case_id: int) -> None:
    """The cockpit snapshots above the case: marked dirty, refreshed once a minute later (only the
    first mark enqueues; later events of that minute find them dirty already)."""
    from delivery.channels import publish

    from .snapshots import scopes_mark_dirty
    from .tasks import cockpit_refresh_dirty

    if scopes_mark_dirty(case_id=case_id):
        # Through the delivery kernel's bounded publish: a broker that is down or frozen costs the
        # request at most its short timeout. The scopes then stay dirty until the beat's
        # `analytics-cockpit-refresh` recomputes every scope (ANALYTICS_REFRESH_SECONDS).
        publish(cockpit_refresh_dirty, countdown=settings.ANALYTICS_DIRTY_DELAY_SECONDS)
