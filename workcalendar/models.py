"""The working-day calendar and the service level of each stage, both edited in the admin.

A stage's default service level is declared with its case type (`casetypes.declaration`);
a `StageSLA` row overrides it."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from casetypes import declaration


def stage_choices() -> list[tuple[str, Any]]:
    """The timed stages of every declared case type (`casetypes.declaration`), for the admin."""
    return [(s.code, s.label) for s in declaration.all_stages() if s.timed]


class StageSLA(models.Model):
    """How many working days a stage may take before the holder is reminded."""

    stage = models.CharField(_("阶段"), max_length=30, choices=stage_choices, unique=True)
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
