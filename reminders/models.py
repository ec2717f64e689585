"""Service levels, the working-day calendar and reminders (the claim rows)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from onboarding.states import WORKING_STAGES, State

STAGE_CHOICES = [(code, State(code).label) for code in WORKING_STAGES]


class StageSLA(models.Model):
    """How many working days a stage may take before the holder is reminded."""

    stage = models.CharField(_("阶段"), max_length=30, choices=STAGE_CHOICES, unique=True)
    days = models.PositiveSmallIntegerField(_("办理时限(工作日)"))

    class Meta:
        verbose_name = _("阶段办理时限")
        verbose_name_plural = _("阶段办理时限")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.get_stage_display()}: {self.days}"


class CalendarDay(models.Model):
    """A day that differs from, or is named within, the Monday–Friday rule.

    Only holidays and adjusted working days (调休) are stored: every other day follows
    Monday–Friday. That is also the fallback for a year whose schedule nobody has entered,
    so an unknown year needs no special case; "known" only matters for the warning.
    """

    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("工作日"))
    name = models.CharField(_("名称"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("节假日/调休日")
        verbose_name_plural = _("节假日/调休日")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'班' if self.is_workday else '休'} {self.name}"


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
