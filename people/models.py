"""People change (issue 23): absences with a substitute, who answers for a pending counter entry
after its maker's work moved, and the leaver queue.

Who holds a case is the case's own `account_manager` (moved only through
`onboarding.services.case_write`, with an event naming from whom, to whom, by whom and why);
these rows hold what the case has no column for.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Absence(models.Model):
    """A person away from `starts_on` to `ends_on` (inclusive, local dates) and who stands in.

    The substitute is a colleague holding `role`, or nobody: then the role's queue at the
    person's branch (every colleague with the role there) takes the work arriving meanwhile.
    An absence is cancelled, never deleted.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("休假人"), on_delete=models.PROTECT, related_name="absences"
    )
    role = models.CharField(_("代办角色"), max_length=30)
    starts_on = models.DateField(_("开始日期"))
    ends_on = models.DateField(_("结束日期"))
    substitute = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("代办人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="substitutions",
    )
    reason = models.CharField(_("事由"), max_length=200, blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("休假委托")
        verbose_name_plural = _("休假委托")
        ordering = ["starts_on", "pk"]
        indexes = [models.Index(fields=["person", "ends_on"]), models.Index(fields=["substitute", "ends_on"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")), name="absence_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~models.Q(substitute=models.F("person")), name="absence_substitute_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.starts_on}–{self.ends_on}"

    def is_active_on(self, day: object) -> bool:
        return self.cancelled_at is None and self.starts_on <= day <= self.ends_on  # type: ignore[operator]


class EntryHolder(models.Model):
    """Who answers for a pending counter entry on the maker's side now that its maker's work
    moved (nobody: the entry waits in the leaver queue). The entry itself never changes."""

    entry = models.OneToOneField("counter.CounterEntry", on_delete=models.PROTECT, related_name="people_holder")
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="held_entries"
    )
    since = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("柜面事项负责人")
        verbose_name_plural = _("柜面事项负责人")

    def __str__(self) -> str:
        return f"{self.entry_id} → {self.holder_id}"


class LeaverItem(models.Model):
    """One piece of a deactivated person's open work waiting in the leaver queue (离职交接):
    a case they managed or a pending counter entry they answered for, until it is reassigned."""

    former = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("原办理人"), on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(_("角色"), max_length=30)
    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey("counter.CounterEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    queued_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("离职交接待分配")
        verbose_name_plural = _("离职交接待分配")
        ordering = ["queued_at", "pk"]
        indexes = [models.Index(fields=["case"], name="leaver_open_idx", condition=models.Q(resolved_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.former_id}:{self.case_id}:{self.entry_id}"
