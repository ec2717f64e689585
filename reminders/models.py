"""Reminders (the claim rows), in-app notices, mail outbox. The calendar and service levels: `workcalendar`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from onboarding.states import State


class Reminder(models.Model):
    """One reminder level of one stage visit. Its unique row is the claim: whoever inserts it sends it."""

    class Level(models.IntegerChoices):
        REMIND = 1, _("到期提醒(1倍时限)")
        ESCALATE = 2, _("上级督办(1.5倍时限)")
        HEAD_OFFICE = 3, _("总行督办(2倍时限)")

    # No separate index on visit: the unique (visit, level) index serves it. Fewer indexes,
    # cheaper sweeps (bench/sweep.py writes tens of thousands of these rows at once).
    visit = models.ForeignKey(
        "onboarding.StageVisit", on_delete=models.PROTECT, related_name="reminders", db_index=False
    )
    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="reminders")
    level = models.PositiveSmallIntegerField(_("级别"), choices=Level.choices)
    stage = models.CharField(_("阶段"), max_length=30, choices=State.choices)
    due_at = models.DateTimeField(_("办理时限"))
    # Which sweep inserted the row: after INSERT … ON CONFLICT DO NOTHING a sweep reads back
    # only its own token, so a row another sweep claimed first is never sent twice.
    # (Not indexed: on PostgreSQL the sweep uses RETURNING instead.)
    claim = models.UUIDField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("催办记录")
        verbose_name_plural = _("催办记录")
        ordering = ["-created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["visit", "level"], name="one_reminder_per_visit_level")]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.stage}:L{self.level}"


class Notification(models.Model):
    """An in-app notice (the bell)."""

    # Read by recipient only (the two indexes below); the other keys need no index of their own.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    case = models.ForeignKey(
        "onboarding.OnboardingCase", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reminder = models.ForeignKey(
        Reminder, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    text = models.CharField(_("内容"), max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("站内通知")
        verbose_name_plural = _("站内通知")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["recipient"], name="notification_unread_idx", condition=models.Q(read_at__isnull=True)
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_list_idx"),
        ]

    def __str__(self) -> str:
        return self.text


class OutboxEmail(models.Model):
    """The e-mail of a reminder, committed with the claim and marked sent by the worker that sent it."""

    reminder = models.OneToOneField(Reminder, on_delete=models.PROTECT, related_name="email")
    to = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("待发邮件")
        verbose_name_plural = _("待发邮件")
        indexes = [
            models.Index(fields=["created_at"], name="outbox_unsent_idx", condition=models.Q(sent_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.reminder_id} → {', '.join(self.to)}"
