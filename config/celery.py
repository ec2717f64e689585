from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("onboarding_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Connects the beat lock (config/beat_lock.py) to `celery beat` start-up.
import config.beat_lock  # noqa: E402, F401
