"""WeCom group robots (one per branch, one for head office), their outbox, and the daily digest's claims."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class WeComRobot(models.Model):
    """A WeCom (企业微信) group robot of one branch. The webhook key is kept encrypted (`wecom.crypto`)."""

    branch = models.OneToOneField(
        "branches.Branch", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="wecom_robot"
    )
    name = models.CharField(_("群名称"), max_length=100, blank=True)
    base_url = models.URLField(
        _("企业微信服务地址"),
        max_length=300,
        blank=True,
        help_text=_("留空则使用系统设置 WECOM_BASE_URL;银行自建(私有化部署)企业微信时填写其地址。"),
    )
    key_encrypted = models.TextField(editable=False)
    key_hint = models.CharField(_("Webhook 密钥"), max_length=20, editable=False)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("企业微信群机器人")
        verbose_name_plural = _("企业微信群机器人")
        ordering = ["branch__path"]

    def __str__(self) -> str:
        return f"{self.branch} {self.name}".strip()


class WeComMessage(models.Model):
    """One notice for one robot; inserting it (unique per robot and notice) is the claim.

    Sent by a worker after commit, alone or merged with others when more are due than the
    robot may post this minute; `post` names the request that carried it.
    """

    robot = models.ForeignKey(WeComRobot, on_delete=models.PROTECT, related_name="messages")
    key = models.CharField(max_length=80)
    kind = models.CharField(max_length=30)
    case = models.ForeignKey(
        "onboarding.OnboardingCase", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    content = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)
    post = models.ForeignKey("WeComPost", null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("企业微信待发消息")
        verbose_name_plural = _("企业微信待发消息")
        constraints = [models.UniqueConstraint(fields=["robot", "key"], name="wecom_message_once")]
        indexes = [
            models.Index(
                fields=["robot", "next_attempt_at"],
                name="wecom_message_due_idx",
                condition=models.Q(sent_at__isnull=True, given_up_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return self.key


class WeComPost(models.Model):
    """The log of requests to a robot: one row per POST (its `errcode`), counted for the rate limit."""

    robot = models.ForeignKey(WeComRobot, on_delete=models.PROTECT, related_name="posts")
    at = models.DateTimeField(default=timezone.now)
    merged = models.PositiveSmallIntegerField(default=1)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    errcode = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("企业微信发送记录")
        verbose_name_plural = _("企业微信发送记录")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["robot", "at"], name="wecom_post_window_idx")]
        triggers = [  # evidence (config/evidence.py): what was posted, never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]


class DigestPreference(models.Model):
    """How a person gets the daily digest. No row: by e-mail, not in WeCom."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email = models.BooleanField(_("邮件"), default=True)
    wecom = models.BooleanField(_("企业微信群"), default=False)

    class Meta:
        verbose_name = _("每日摘要设置")
        verbose_name_plural = _("每日摘要设置")


class DigestRun(models.Model):
    """One person's digest of one day; inserting it (unique per user and date) is the claim."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    claim = models.UUIDField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Nothing to report: claimed, nothing sent.
    empty = models.BooleanField(default=False)
    counts = models.JSONField(default=dict)
    channels = models.JSONField(default=list)

    class Meta:
        verbose_name = _("每日摘要记录")
        verbose_name_plural = _("每日摘要记录")
        constraints = [models.UniqueConstraint(fields=["user", "date"], name="digest_once_per_user_day")]
