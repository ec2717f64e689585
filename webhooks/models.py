"""Webhook endpoints of a company or a branch, and one delivery row per (endpoint, event): the outbox."""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class WebhookEvent(models.TextChoices):
    CASE_CREATED = "case.created", _("案件创建")
    STAGE_ENTERED = "case.stage_entered", _("进入新阶段")
    DOCUMENT_REQUESTED = "document.requested", _("要求提交文件")
    DOCUMENT_REJECTED = "document.rejected", _("文件退回")
    REMINDER = "case.reminder", _("到期提醒/督办")
    CASE_LIVE = "case.live", _("正式上线")
    TEST = "webhook.test", _("测试事件")


# A bank administrator: a staff user who creates the bank's own API clients and webhook endpoints
# (/integrations/) for branches of their subtree, and is told when such an endpoint is disabled.
# Given to a user or a group in the admin.
BANK_ADMIN_PERMISSION = "webhooks.manage_bank_integrations"


class WebhookEndpoint(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    enterprise = models.ForeignKey(
        "companies.Enterprise", null=True, blank=True, on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    branch = models.ForeignKey("branches.Branch", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    url = models.URLField(_("地址"), max_length=500)
    description = models.CharField(_("说明"), max_length=200, blank=True)
    events = models.JSONField(_("订阅事件"), default=list)
    # HMAC needs the key itself: kept readable (as the mail password is), shown to the owner once.
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("启用"), default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("Webhook 地址")
        verbose_name_plural = _("Webhook 地址")
        permissions = [("manage_bank_integrations", _("管理银行系统对接(API 客户端、推送地址)"))]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(enterprise__isnull=True, branch__isnull=False)
                | models.Q(enterprise__isnull=False, branch__isnull=True),
                name="webhook_endpoint_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One message to one endpoint; inserting it (unique per endpoint, event and type) is the claim.

    One case event may announce several types (going live is also a stage entered): an endpoint
    subscribed to both gets one message of each.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey("onboarding.CaseEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices)
    msg_id = models.CharField(max_length=60, unique=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event", "event_type"],
                condition=models.Q(event__isnull=False),
                name="webhook_once_per_event_type",
            )
        ]
        # What was sent to whom is evidence (config/evidence.py): only the delivery kernel's
        # columns change (attempts, next attempt, last status and error, delivered, given up;
        # "send again" clears delivered and given up and counts afresh), a delivery time is
        # never rewritten to another; the endpoint, the event, the message and its id never
        # change. Never deleted or emptied; every attempt stays in WebhookAttempt.
        triggers = [
            pgtrigger.Protect(
                name="only_delivery_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(
                    exclude=["next_attempt_at", "attempts", "delivered_at", "given_up_at", "last_status", "last_error"]
                ),
            ),
            pgtrigger.Protect(
                name="delivery_time_not_rewritten",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(
                    old__delivered_at__isnull=False,
                    new__delivered_at__isnull=False,
                    old__delivered_at__df=pgtrigger.F("new__delivered_at"),
                ),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            NoTruncate(),
        ]

    @property
    def pending(self) -> bool:
        return self.delivered_at is None and self.given_up_at is None


class WebhookAttempt(models.Model):
    """The delivery log: one row per HTTP attempt, with the response code or the error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="log")
    at = models.DateTimeField(default=timezone.now)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "pk"]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]
