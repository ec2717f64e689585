"""The reminder and escalation policy, read through one function: `reminder_policy()`.

Its parts live where they are declared: each stage's service level in working days in
`workcalendar` (the administrator's value, else the case type's default), when each level fires
in the case type's declaration (`casetypes.declaration.reminder_policy`), the levels on
`Reminder`, the event names in `onboarding.events`. The sweep (`services`, `sweep`) reads them
only from here, so moving more of the policy into the declaration changes this one function.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from branches.roles import Role
from casetypes import declaration
from notices.channels import AnnouncementKind
from onboarding import events
from workcalendar import workcal

from .models import Reminder


class Audience(enum.Enum):
    """Who a level is sent to."""

    # The people holding the ball: the case's customer (its users, contact e-mail and account
    # manager) or account manager, else the holder's role at the case's branch and above.
    HOLDERS = "holders"
    # A supervisor of the next branch level up; head office for holders already at the top.
    SUPERVISORS = "supervisors"
    HEAD_OFFICE = "head_office"


@dataclass(frozen=True)
class Level:
    level: int
    event_name: str
    announcement: str
    audience: Audience
    # The in-app notice; %(ref)s and %(company)s are filled in per case, {stage} per stage.
    notice: Promise


@dataclass(frozen=True)
class Policy:
    sla_days: Mapping[str, int]  # stage code → working days; a stage without one is never reminded
    # stage code → level → how far past the due time it fires, as a share of the stage's SLA
    # (0 = at the due time); a level a stage's case type does not declare never fires.
    lateness: Mapping[str, Mapping[int, float]]
    levels: tuple[Level, ...]  # ascending; each level's number is one more than the previous one's
    upper_roles: frozenset[str]  # holders that sit at tier-1 or head office: escalated straight to head office

    def level(self, number: int) -> Level:
        return next(lv for lv in self.levels if lv.level == number)


_LEVELS = (
    Level(
        Reminder.Level.REMIND,
        events.REMINDER_EVENTS[Reminder.Level.REMIND].value,
        AnnouncementKind.REMINDER,
        Audience.HOLDERS,
        _("%(ref)s %(company)s:{stage}已超过办理时限"),
    ),
    Level(
        Reminder.Level.ESCALATE,
        events.REMINDER_EVENTS[Reminder.Level.ESCALATE].value,
        AnnouncementKind.ESCALATION,
        Audience.SUPERVISORS,
        _("督办:%(ref)s %(company)s 在{stage}阶段已超时1.5倍"),
    ),
    Level(
        Reminder.Level.HEAD_OFFICE,
        events.REMINDER_EVENTS[Reminder.Level.HEAD_OFFICE].value,
        AnnouncementKind.HEAD_OFFICE_ESCALATION,
        Audience.HEAD_OFFICE,
        _("总行督办:%(ref)s %(company)s 在{stage}阶段已超时2倍"),
    ),
)
_UPPER_ROLES = frozenset({Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER})


def reminder_policy() -> Policy:
    """The policy as it stands now (service levels are read from the database on each call)."""
    sla_days = workcal.sla_map()
    lateness = {stage: declaration.reminder_policy(stage).levels() for stage in sla_days}
    return Policy(sla_days=sla_days, lateness=lateness, levels=_LEVELS, upper_roles=_UPPER_ROLES)
