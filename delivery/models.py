"""The columns every row sent later has, for a new channel's row model to inherit.

The older row models (`notices.OutboxEmail`, `webhooks.WebhookDelivery`, `wecom.WeComMessage`,
`transfers.ImportJob`) keep their tables and name their columns on their channel instead
(`Channel.sent_field` and the others), so nothing had to be renamed.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DeliveryRow(models.Model):
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    # When the next attempt is due: now for a new row, later after a failure (the back-off).
    next_attempt_at = models.DateTimeField(_("下次尝试"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    given_up_at = models.DateTimeField(_("放弃时间"), null=True, blank=True)
    last_error = models.CharField(_("最近错误"), max_length=300, blank=True)

    class Meta:
        abstract = True
