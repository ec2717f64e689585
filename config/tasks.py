from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task
def form_tokens_expire() -> int:
    """Drop the claims of one-time form tokens older than FORM_TOKEN_KEEP_HOURS (config/once.py)."""
    from .models import FormSubmission

    cutoff = timezone.now() - dt.timedelta(hours=settings.FORM_TOKEN_KEEP_HOURS)
    deleted, _ = FormSubmission.objects.filter(created_at__lt=cutoff).delete()
    return deleted
