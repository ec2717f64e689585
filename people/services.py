"""Writes for people change: reassign work after a preview, absences, a leaver's release.

Every change of a case goes through `onboarding.services.case_write` with one event naming from
whom, to whom, by whom and why; the new holder is told as a hand-off is (a notice in the bell and
a mail through the outbox, `onboarding.notifications.queue_event_notice`). The queue, the bell,
the reminders and the escalations read the case's `account_manager` (or, for an entry, who
answers for it), so they follow the new holder from the commit on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import Role, user_roles
from branches.scope import ancestor_ids, branch_in_subtree
from counter.models import CounterEntry
from onboarding import events
from onboarding.models import OnboardingCase
from onboarding.notifications import queue_event_notice
from onboarding.services import CaseError, case_write
from onboarding.states import OPEN_STATES

from . import selectors
from .models import Absence, EntryHolder, LeaverItem
from .selectors import CASE_ROLE, ENTRY_ROLE, role_label

if TYPE_CHECKING:
    from accounts.models import User


@dataclass
class Move:
    """One piece of work to move: a case (its account manager) or a pending counter entry (who
    answers for it on the maker's side), from whom, and what refuses it (empty: it can move)."""

    case: OnboardingCase
    entry: CounterEntry | None
    holder: Any  # the person holding it now (None: in the leaver queue)
    problem: str = ""
    former: Any = None  # in the leaver queue: whose it was

    @property
    def role(self) -> str:
        return ENTRY_ROLE if self.entry is not None else CASE_ROLE

    @property
    def key(self) -> str:
        return f"entry:{self.entry.public_id}" if self.entry is not None else f"case:{self.case.public_id}"


def target_problem(*, actor: Any, target: Any, role: str) -> str:
    """Why `target` may not take work of `role` (empty if they may): active, the same role, in
    the actor's subtree."""
    if target is None or not target.is_active:
        return _("接手人已停用")
    if role not in user_roles(target):
        return _("%(who)s 不是%(role)s,不能接手该工作") % {"who": target, "role": role_label(role)}
    if target.branch_id is None or not branch_in_subtree(target.branch, actor):
        return _("%(who)s 不在您的管辖范围内") % {"who": target}
    return ""


def _entry_holder(entry: CounterEntry) -> Any:
    row = EntryHolder.objects.filter(entry=entry).select_related("holder").first()
    return entry.maker if row is None else row.holder


def work_preview(*, actor: Any, moves: list[Move], target: Any) -> list[Move]:
    """Each move with what refuses it: nothing leaves the actor's subtree, the new holder holds
    the role and can see the case, and dual control holds (nobody answers for an entry they
    would then have to check, nor checks their own)."""
    for move in moves:
        move.problem = _move_problem(actor=actor, move=move, target=target)
    return moves


def _move_problem(*, actor: Any, move: Move, target: Any) -> str:
    problem = target_problem(actor=actor, target=target, role=move.role)
    if problem:
        return problem
    case = move.case
    if not branch_in_subtree(case.branch, actor):
        return _("案件不在您的管辖范围内")
    if not branch_in_subtree(case.branch, target):
        return _("案件 %(ref)s 不在 %(who)s 的管辖范围内") % {"ref": case.reference, "who": target}
    if move.holder is not None and move.holder.pk == target.pk:
        return _("已由 %(who)s 办理") % {"who": target}
    entry = move.entry
    if entry is None:
        if case.state not in OPEN_STATES:
            return _("案件已办结")
        return ""
    if not entry.is_pending:
        return _("该柜面事项已复核或已取消")
    if Role.COUNTER_CHECKER in user_roles(target) and not _other_checker_exists(entry, target):
        # The new holder could not check it (dual control) and nobody else at the outlet could:
        # the entry would wait for ever, or tempt the holder to check it.
        return _("双人复核:%(who)s 接手后,本网点再无其他复核人可复核该事项") % {"who": target}
    return ""


def _other_checker_exists(entry: CounterEntry, target: Any) -> bool:
    return (
        get_user_model()
        .objects.filter(
            is_active=True, groups__name=Role.COUNTER_CHECKER, branch_id__in=ancestor_ids(entry.case.branch)
        )
        .exclude(pk__in=[target.pk, entry.maker_id])
        .exists()
    )


def moves_of(*, person: Any) -> list[Move]:
    """Everything a person holds, as moves (cases first, then entries)."""
    moves = [Move(case=c, entry=None, holder=person) for c in selectors.held_cases(person=person)]
    moves += [Move(case=e.case, entry=e, holder=person) for e in selectors.held_entries(person=person)]
    return moves


def moves_from_leaver_queue(*, actor: Any) -> list[Move]:
    return [Move(case=i.case, entry=i.entry, holder=None, former=i.former) for i in selectors.leaver_items(actor=actor)]


@dataclass
class Outcome:
    moved: list[Move]
    refused: list[Move]
    batch: str


def work_reassign(*, actor: User, moves: list[Move], target: User, reason: str) -> Outcome:
    """Move each piece of work that passes the preview's checks to `target`, one case write
    (and one event) per piece; each is checked again on the locked case, so work that moved
    meanwhile is refused rather than taken from its new holder."""
    reason = reason.strip()
    if not reason:
        raise CaseError(_("请填写转交原因"))
    batch = uuid.uuid4().hex
    moved: list[Move] = []
    refused: list[Move] = []
    for move in work_preview(actor=actor, moves=moves, target=target):
        if move.problem:
            refused.append(move)
            continue
        try:
            _move_one(actor=actor, move=move, target=target, reason=reason, batch=batch)
        except CaseError as exc:
            move.problem = exc.message
            refused.append(move)
            continue
        moved.append(move)
    return Outcome(moved=moved, refused=refused, batch=batch)


def _holder_data(move: Move, target: Any, *, actor: Any, how: str, batch: str) -> dict[str, Any]:
    return {
        "from": move.holder.pk if move.holder is not None else None,
        "from_name": str(move.holder) if move.holder is not None else "",
        "to": target.pk if target is not None else None,
        "to_name": str(target) if target is not None else "",
        "by": actor.pk if actor is not None else None,
        "by_name": str(actor) if actor is not None else "",
        "how": how,
        "batch": batch,
    }


def _move_one(*, actor: User, move: Move, target: User, reason: str, batch: str) -> None:
    with transaction.atomic(), case_write(case=move.case, user=actor, seen_version=None) as w:
        case = w.case
        data = _holder_data(move, target, actor=actor, how="reassign", batch=batch)
        if move.entry is None:
            if case.account_manager_id != (move.holder.pk if move.holder is not None else None):
                raise CaseError(_("案件 %(ref)s 已被他人转交,请刷新预览") % {"ref": case.reference})
            case.account_manager = target
            w.changed("account_manager")
            event = events.case_reassigned(case=case, actor=actor, holder=data, reason=reason)
        else:
            entry = CounterEntry.objects.select_for_update().get(pk=move.entry.pk)
            current = _entry_holder(entry)
            if not entry.is_pending or (current.pk if current else None) != (move.holder.pk if move.holder else None):
                raise CaseError(_("柜面事项已变化,请刷新预览"))
            EntryHolder.objects.update_or_create(entry=entry, defaults={"holder": target, "since": w.now})
            data.update(entry=entry.pk, kind=entry.kind)
            event = events.counter_entry_reassigned(case=case, actor=actor, entry=data, reason=reason)
        LeaverItem.objects.filter(case=case, entry=move.entry, resolved_at__isnull=True).update(
            resolved_at=w.now, resolved_to=target, resolved_by=actor
        )
        queue_event_notice(event, [target])


# --- leavers -------------------------------------------------------------------------------------


def leaver_release(*, person: User, actor: User | None = None) -> int:
    """A deactivated person holds nothing: each open case they manage and each pending entry they
    answer for goes to the leaver queue of the supervisors above it (account manager cleared, an
    event naming the leaver, a `LeaverItem`); absences they set up for others to cover end.
    Returns how many pieces of work moved. Safe to run again (nothing left: nothing moves)."""
    batch = uuid.uuid4().hex
    count = 0
    reason = _("离职交接:%(who)s 已停用") % {"who": person}
    for move in moves_of(person=person):
        with transaction.atomic(), case_write(case=move.case, user=actor or person, seen_version=None) as w:
            case = w.case
            data = _holder_data(move, None, actor=actor, how="leaver", batch=batch)
            if move.entry is None:
                if case.account_manager_id != person.pk:
                    w.unchanged()
                    continue
                case.account_manager = None
                w.changed("account_manager")
                events.case_reassigned(case=case, actor=actor, holder=data, reason=reason)
            else:
                EntryHolder.objects.update_or_create(entry=move.entry, defaults={"holder": None, "since": w.now})
                data.update(entry=move.entry.pk, kind=move.entry.kind)
                events.counter_entry_reassigned(case=case, actor=actor, entry=data, reason=reason)
            LeaverItem.objects.create(former=person, role=move.role, case=case, entry=move.entry, queued_at=w.now)
            count += 1
    now = timezone.now()
    # Their own absences end; where they stood in for someone, the role's queue takes over.
    Absence.objects.filter(person=person, cancelled_at__isnull=True).update(cancelled_at=now)
    Absence.objects.filter(substitute=person, cancelled_at__isnull=True).update(substitute=None)
    return count


# --- absences ------------------------------------------------------------------------------------


def absence_role(person: Any) -> str:
    """The role a substitute covers: the person's own-work role (account manager first)."""
    roles = user_roles(person)
    for role in selectors.ABSENCE_ROLES:
        if role in roles:
            return role
    raise CaseError(_("%(who)s 没有可委托的岗位角色") % {"who": person})


def absence_set(
    *,
    actor: User,
    person: User,
    starts_on: dt.date,
    ends_on: dt.date,
    substitute: User | None,
    reason: str = "",
) -> Absence:
    """A person (or their supervisor) sets an absence with a substitute of the same role, or the
    role's queue at the person's branch (no substitute)."""
    if actor.pk != person.pk and not selectors.manages(actor, person):
        raise CaseError(_("只能为本人或本机构人员设置休假委托"))
    if ends_on < starts_on:
        raise CaseError(_("结束日期不能早于开始日期"))
    if ends_on < selectors.today():
        raise CaseError(_("休假已结束,无需委托"))
    role = absence_role(person)
    if substitute is not None:
        if substitute.pk == person.pk:
            raise CaseError(_("代办人不能是休假人本人"))
        if not substitute.is_active or role not in user_roles(substitute):
            raise CaseError(_("%(who)s 不是%(role)s,不能代办") % {"who": substitute, "role": role_label(role)})
        if substitute.branch_id is None or person.branch_id is None:
            raise CaseError(_("代办人须为本行员工"))
        # The substitute sees the person's cases: the person's branch lies in their subtree.
        if not branch_in_subtree(person.branch, substitute):
            raise CaseError(_("%(who)s 看不到休假人的案件,不能代办") % {"who": substitute})
        if selectors.absence_of(substitute.pk, day=max(starts_on, selectors.today())):
            raise CaseError(_("%(who)s 同期也在休假") % {"who": substitute})
    overlap = Absence.objects.filter(
        person=person, cancelled_at__isnull=True, starts_on__lte=ends_on, ends_on__gte=starts_on
    )
    if overlap.exists():
        raise CaseError(_("该期间已有休假委托,请先取消原委托"))
    return Absence.objects.create(
        person=person,
        role=role,
        starts_on=starts_on,
        ends_on=ends_on,
        substitute=substitute,
        reason=reason.strip(),
        set_by=actor,
    )


def absence_cancel(*, actor: User, absence: Absence) -> Absence:
    if actor.pk not in (absence.person_id, absence.set_by_id) and not selectors.manages(actor, absence.person):
        raise CaseError(_("只能取消本人或本机构人员的休假委托"))
    updated = Absence.objects.filter(pk=absence.pk, cancelled_at__isnull=True).update(
        cancelled_at=timezone.now(), cancelled_by=actor
    )
    if not updated:
        raise CaseError(_("该休假委托已取消"))
    absence.refresh_from_db()
    return absence
