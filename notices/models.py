"""What the product tells people: in-app notices (the bell) and the one mail outbox.

Every outgoing e-mail (hand-off notices, message notices, reminders, invitations) is an
`OutboxEmail` row committed in the same transaction as the change it reports; a worker
renders and sends it later and marks it sent. A broker that is down, or a worker that dies,
delays a mail but never loses it: the delivery kernel's flush (`delivery.channels`) re-queues
what is unsent, with back-off after a failure.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class Notification(models.Model):
    """An in-app notice (the bell).

    Written as a `kind` with its `params` and rendered in the reader's language when shown
    (`notices.kinds`); `text` keeps the notice as written in Chinese (the admin, rows written
    before notices had parameters, and the channels that carry it elsewhere). A notice whose
    work is done or has moved on is cleared (`cleared_at`, and read): never deleted.
    """

    # Read by recipient only (the two indexes below); the other keys need no index of their own.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    case = models.ForeignKey(
        "onboarding.OnboardingCase", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    kind = models.CharField(_("类别"), max_length=30, blank=True)
    text = models.CharField(_("内容"), max_length=300)
    # What the kind's renderer needs (names, references, the reason), and what the notice is
    # about (the stage visit, the change request, the counter entry) for clearing it.
    params = models.JSONField(_("参数"), default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # When the work it pointed at was done or moved on (it was then marked read too).
    cleared_at = models.DateTimeField(_("办结时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("站内通知")
        verbose_name_plural = _("站内通知")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient"], name="notice_unread_idx", condition=models.Q(read_at__isnull=True)),
            models.Index(fields=["recipient", "-created_at", "-id"], name="notice_list_idx"),
            # A case's open notices, cleared when its work moves on (`services.notices_clear`).
            models.Index(fields=["case"], name="notice_open_case_idx", condition=models.Q(read_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def message(self) -> str:
        """The notice in the active language (its kind's renderer), else the text it was written with."""
        from .kinds import render

        return render(self.kind, self.params, self.text)


class OutboxEmail(models.Model):
    """One e-mail to send: committed with the change it reports, marked sent by the worker that sent it.

    `kind` names the renderer that turns `payload` into subject and body at send time
    (`notices.outbox.renderers`); `key` makes queuing idempotent (one mail per reminder, per
    event, per message).
    """

    kind = models.CharField(max_length=30)
    # Unique through a constraint rather than unique=True, which on PostgreSQL adds a second
    # (LIKE) index that no query uses and every queued mail would write.
    key = models.CharField(max_length=80)
    payload = models.JSONField(default=dict)
    to = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The delivery kernel's columns (delivery.channels): when the next attempt is due (the
    # back-off after a failure), why the last one failed, when the last allowed one failed.
    # Database defaults too: the reminder sweep's statement inserts rows without the ORM.
    next_attempt_at = models.DateTimeField(default=timezone.now, db_default=Now())
    last_error = models.CharField(max_length=300, blank=True, default="", db_default="")
    given_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("待发邮件")
        verbose_name_plural = _("待发邮件")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_idx",
                condition=models.Q(sent_at__isnull=True, given_up_at__isnull=True),
            )
        ]
        constraints = [models.UniqueConstraint(fields=["key"], name="outbox_key_unique")]
        # What was sent to whom is evidence (config/evidence.py): while unsent a row counts its
        # attempts (with the next attempt's time and the last error, or given up); it is marked
        # sent once, dropping its secret in that same update; then it never changes. Never
        # deleted or emptied.
        triggers = [
            pgtrigger.Protect(
                name="sent_rows_are_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__sent_at__isnull=False),
            ),
            pgtrigger.Protect(
                name="only_sending_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(
                    exclude=["sent_at", "attempts", "payload", "next_attempt_at", "last_error", "given_up_at"]
                ),
            ),
            pgtrigger.Protect(
                name="payload_changes_only_when_sent",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__payload__df=pgtrigger.F("new__payload"), new__sent_at__isnull=True),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.key} → {', '.join(self.to)}"


class MailKind(models.TextChoices):
    """The kinds of notice a person may choose to receive by e-mail (the bell always shows them)."""

    HANDOFF = "handoff", _("案件转由我办理")
    COUNTER_CHECK = "counter_check", _("柜面事项待我复核")
    MESSAGE = "message", _("案件新留言")


class EmailPreference(models.Model):
    """A person's choice for one kind of notice: mailed or not. No row means mailed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("类别"), max_length=30, choices=MailKind.choices)
    email = models.BooleanField(_("发送邮件"), default=True)

    class Meta:
        verbose_name = _("邮件通知设置")
        verbose_name_plural = _("邮件通知设置")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="email_pref_once")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.email}"
