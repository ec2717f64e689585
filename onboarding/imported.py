"""A case brought in from a branch's spreadsheet, with its history as the file gives it.

Branches start with Excel: pipelines and cases already live. `case_create_imported` is the
one write that creates such a case: the case in the stage it has reached, one stage visit per
stage it passed (entered and left on the dates given, due on the working-day calendar), one
`stage_imported` event per stage at its date and one `case_imported` event now, every event
marked as imported and naming the import (job, file row). No transition runs and nobody is
told: the history happened outside the system. The checks of the row's data are the forms'
(`transfers.validation`); the rules of the history itself (order, dates, scope) are here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Branch
from branches.roles import Role, has_role
from branches.scope import branch_in_subtree
from casetypes.declaration import StateSet
from companies.models import Enterprise
from companies.services import company_version_latest, company_version_record
from workcalendar import workdays

from . import events
from .journey import ONBOARDING
from .models import OnboardingCase, StageVisit
from .services import CaseError
from .states import STAGE_HOLDER

if TYPE_CHECKING:
    from accounts.models import User

# The stages an imported case may be in, in the order a case passes them.
IMPORTABLE_STATES = StateSet(lambda: ONBOARDING.importable)


def history_problems(*, state: str, entered: dict[str, dt.date], today: dt.date) -> list[tuple[str, str]]:
    """What is wrong with a history: (stage, message) per problem; [] when it can be imported.

    Every stage up to the current one needs the date it was entered, dates never go back,
    none is in the future, and no stage after the current one has a date.
    """
    if state not in IMPORTABLE_STATES:
        return [("", _("不支持导入的阶段,只能导入分支行受理至已上线的案件"))]
    reached = IMPORTABLE_STATES[: IMPORTABLE_STATES.index(state) + 1]
    problems: list[tuple[str, str]] = []
    previous: dt.date | None = None
    for stage in IMPORTABLE_STATES:
        day = entered.get(stage)
        if stage not in reached:
            if day is not None:
                problems.append((stage, _("当前阶段之后的阶段不应填写日期")))
            continue
        if day is None:
            problems.append((stage, _("已经历的阶段须填写进入日期")))
            continue
        if day > today:
            problems.append((stage, _("日期不能晚于今天")))
        if previous is not None and day < previous:
            problems.append((stage, _("日期早于上一阶段的日期")))
        previous = day
    return problems


def _at(day: dt.date) -> dt.datetime:
    """A stage date as a time: 09:00 that day in the bank's time zone (the file gives days)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))


def case_create_imported(
    *,
    user: User,
    enterprise: Enterprise,
    branch: Branch,
    account_manager: User,
    modules: list[str],
    fields: dict[str, Any],
    state: str,
    entered: dict[str, dt.date],
    source: dict[str, Any],
) -> OnboardingCase:
    """Create `enterprise`'s case in `state` with the visits and events of the dates in `entered`.

    `source` names where the case came from (import job, file name, row) and is kept on
    every event. Refused (`CaseError`) outside the importer's subtree, for an account manager
    who is not one of that subtree, or for a history that does not hold together.
    """
    if not has_role(user, Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER):
        raise CaseError(_("只有分行审核岗和总行可以导入案件"))
    if not branch_in_subtree(branch, user) or not branch_in_subtree(enterprise.branch, user):
        raise CaseError(_("受理机构不在您的管辖范围内"))
    if (
        not account_manager.is_active
        or not has_role(account_manager, Role.ACCOUNT_MANAGER)
        or account_manager.branch is None
        or not branch_in_subtree(account_manager.branch, user)
    ):
        raise CaseError(_("客户经理须为您管辖范围内在岗的客户经理"))
    now = timezone.now()
    problems = history_problems(state=state, entered=entered, today=timezone.localdate(now))
    if problems:
        raise CaseError(_("案件历史不完整或日期有误"), [message for _stage, message in problems])
    stages = [s for s in IMPORTABLE_STATES if s in entered]
    with transaction.atomic():
        version = company_version_latest(enterprise) or company_version_record(enterprise=enterprise, user=user)
        created = _at(entered[stages[0]])
        case = OnboardingCase(
            enterprise=enterprise,
            branch=branch,
            account_manager=account_manager,
            modules=modules,
            created_by=user,
            created_at=created,
            updated_at=now,
            reference=f"TMP-{uuid.uuid4().hex[:16]}",  # replaced once the row has its id
            company_version=version,
            state=state,
            **fields,
        )
        case.save()
        case.reference = f"ZL-{timezone.localdate(created).year}-{case.pk:06d}"
        current = None
        for i, stage in enumerate(stages):
            if stage not in STAGE_HOLDER:
                continue  # live: no visit
            at = _at(entered[stage])
            left = _at(entered[stages[i + 1]]) if i + 1 < len(stages) else None
            party, role = STAGE_HOLDER[stage]
            visit = StageVisit.objects.create(
                case=case,
                stage=stage,
                entered_at=at,
                due_at=workdays.due_at(stage, at),
                left_at=left,
                holder_party=party,
                holder_role=role,
            )
            if left is None:
                current = visit
        case.current_visit = current
        OnboardingCase.objects.filter(pk=case.pk).update(reference=case.reference, current_visit=current)
        previous = ""
        for stage in stages:
            events.stage_imported(
                case=case, actor=user, from_state=previous, to_state=stage, at=_at(entered[stage]), data=source
            )
            previous = stage
        events.case_imported(
            case=case,
            actor=user,
            data={
                **source,
                "company_version": version.number,
                "state": state,
                "entered": {s: entered[s].isoformat() for s in stages},
            },
        )
    return case
