"""Reminders (the claim rows). The calendar and service levels: `workcalendar`; notices and the mail outbox: `notices`."""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate
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
    # Which sweep inserted the row (one token per sweep). A sweep goes on only with the rows
    # its INSERT … ON CONFLICT DO NOTHING RETURNING returned, so a row another sweep claimed
    # first is never sent twice; the token is a record, not read by the sweep (not indexed).
    claim = models.UUIDField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("催办记录")
        verbose_name_plural = _("催办记录")
        ordering = ["-created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["visit", "level"], name="one_reminder_per_visit_level")]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.stage}:L{self.level}"
