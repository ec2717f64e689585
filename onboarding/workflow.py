"""The engine under every case type's transitions: what a transition's effects share.

A journey (`journey.py`) declares its stages and writes its transitions as django-fsm-2
methods on a class built on `CaseEngine`; the case model inherits them. `_enter` closes the
current stage visit and opens one for the next stage with the holder and working-day due time
its declaration gives, so no transition names a holder or a service level.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from casetypes import declaration
from workcalendar import workdays

if TYPE_CHECKING:
    from accounts.models import User


def step(
    label: Any,
    *,
    done: Any,
    style: str = "primary",
    reason_required: bool = False,
    rare: bool = False,
    withdraws: bool = False,
    panel: str = "",
) -> dict[str, Any]:
    """What the page shows of a transition: its button, and what to say once it is done.

    `rare`: a rare or destructive step (withdraw, reject, suspend) the case page keeps apart from
    the work of the stage, behind a confirmation. `withdraws`: the case type's withdrawal (the
    portal's 撤回 box offers it to the customer where its permission lets them take it).
    `panel`: the anchor of the case page's panel whose form takes this step (it does the work
    and makes the transition at once): the next-step panel links there instead of offering a
    button of its own, and lists none of its conditions as missing."""
    return {
        "label": label,
        "done": done,
        "style": style,
        "reason_required": reason_required,
        "rare": rare,
        "withdraws": withdraws,
        "panel": panel,
    }


class CaseEngine:
    # Provided by the case model.
    enterprise: Any
    company_version: Any
    state: str
    state_before_suspend: str
    current_visit: Any  # a StageVisit, or None
    submitted_by: Any
    visits: Any
    approvals: Any

    def _enter(self, stage: str, now: dt.datetime) -> None:
        """Close the current stage visit and open one for `stage` (none for an end state)."""
        visit = self.current_visit
        if visit is not None:
            visit.left_at = now
            visit.save(update_fields=["left_at"])
        self.current_visit = None
        declared = declaration.stage(stage)
        if declared is not None:
            self.current_visit = self.visits.create(
                stage=stage,
                entered_at=now,
                due_at=workdays.due_at(stage, now),
                holder_party=declared.party,
                holder_role=declared.holder,
            )

    def _follow_company(self) -> None:
        """Back in intake: point at the company's newest data version, noting the move for the event."""
        from companies.services import company_diff, company_version_latest

        latest = company_version_latest(self.enterprise)
        old = self.company_version
        if latest is not None and (old is None or latest.pk != old.pk):
            self.effect_data = {
                "from_version": old.number if old is not None else None,
                "to_version": latest.number,
                "diff": company_diff(old, latest) if old is not None else {},
            }
            self.company_version = latest

    def _approve(self, level: str, by: User, now: dt.datetime) -> None:
        assert self.current_visit is not None
        self.approvals.create(visit=self.current_visit, level=level, decided_by=by, decided_at=now)

    def _pause(self, now: dt.datetime) -> None:
        """Remember the stage; the current visit's clock stops."""
        self.state_before_suspend = self.state
        visit = self.current_visit
        assert visit is not None
        visit.paused_at = now
        visit.save(update_fields=["paused_at"])

    def _unpause(self, now: dt.datetime) -> str:
        """Back to the remembered stage; the due time moves by the working time spent paused."""
        visit = self.current_visit
        assert visit is not None and visit.paused_at is not None
        # Paused time does not count against the stage's service level: the due time moves by
        # the *working* time that passed (a wall-clock shift would land a pause over a weekend
        # or holiday on the wrong day).
        visit.paused_seconds += int((now - visit.paused_at).total_seconds())
        if visit.due_at is not None:
            visit.due_at = workdays.extend_for_pause(visit.due_at, visit.paused_at, now)
        visit.paused_at = None
        visit.save(update_fields=["paused_at", "paused_seconds", "due_at"])
        previous = self.state_before_suspend
        self.state_before_suspend = ""
        return previous


# The fields a transition's effects may change on the case row itself.
CASE_FIELDS_CHANGED = ("state", "state_before_suspend", "current_visit", "submitted_by", "company_version")
