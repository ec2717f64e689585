"""The project's own rows: the one-time tokens of forms that create things (config/once.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class FormSubmission(models.Model):
    """A create form's token, claimed by its first post, with the answer a repeat of it gets.

    `key` is a digest of the user, the token and the posted fields (and files): the same post
    sent again (a browser retrying after a timeout, a double click) finds it; a different post
    carrying the same token (a second tab of a page served from the page cache) does not.
    """

    key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+")
    path = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField(null=True)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "form submission"
