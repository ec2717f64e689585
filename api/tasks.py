from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import IdempotencyRecord


@shared_task(acks_late=True)
def idempotency_expire() -> int:
    """Idempotency keys are honoured for IDEMPOTENCY_KEEP_HOURS; older records are removed."""
    cutoff = timezone.now() - dt.timedelta(hours=settings.IDEMPOTENCY_KEEP_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
