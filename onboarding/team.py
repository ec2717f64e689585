"""A branch supervisor's view of his team: who holds which open cases of his subtree, what is stuck.

One row per account manager of the subtree (the cases they manage: held by them, waiting on
the customer, overdue, the one waiting longest) and one per other holder of the subtree's cases
(a role at a branch: the counter of an outlet, the supervisors, head office). Two queries
whatever the number of cases: one grouped read of the cases (window functions give each
group's counts and its longest-waiting case), one of the subtree's staff.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When, Window
from django.db.models.functions import RowNumber
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import pgettext

from accounts.people import people_q
from branches.models import BranchLevel
from branches.roles import Role
from branches.scope import subtree_q
from casetypes import declaration

from .models import OnboardingCase
from .states import CUSTOMER, WORKING_STAGES

UPPER_ROLES = (Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER)


@dataclass
class Oldest:
    reference: str
    public_id: Any
    entered_at: dt.datetime
    due_at: dt.datetime | None


@dataclass
class TeamRow:
    who: str  # the person, or the people holding a role at a branch
    role: str  # the role (and branch) they hold the cases as
    held: int = 0  # open cases waiting on them
    overdue: int = 0
    with_customer: int = 0  # their cases waiting on the customer (account managers)
    oldest: Oldest | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the case list's filter for these cases
    states: set[str] = field(default_factory=set)
    person: str = ""  # an account manager's row: whose work can be handed on (username)

    @property
    def url(self) -> str:
        params = dict(self.params)
        if "account_manager" not in params and len(self.states) == 1:
            params["state"] = next(iter(self.states))
        return _list_url(**params)

    @property
    def overdue_url(self) -> str:
        return _list_url(**self.params, overdue="on")

    def take(self, row: Mapping[str, Any]) -> None:
        self.held += row["n"]
        self.overdue += row["late"]
        self.states.add(row["state"])
        if self.oldest is None or row["current_visit__entered_at"] < self.oldest.entered_at:
            self.oldest = Oldest(
                row["reference"], row["public_id"], row["current_visit__entered_at"], row["current_visit__due_at"]
            )


@functools.lru_cache(maxsize=8)
def _case_list_path(prefix: str) -> str:
    return reverse("case_list")  # once per script prefix: two links a row


def _list_url(**params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return _case_list_path(get_script_prefix()) + (f"?{query}" if query else "")


def team_overview(*, user: Any) -> list[TeamRow]:
    """The supervisor's subtree: one row per holder, most overdue first."""
    return team_and_overdue(user=user)[0]


def team_and_overdue(*, user: Any) -> tuple[list[TeamRow], int]:
    """The team's rows and how many of the subtree's cases are overdue, from the same read.

    The overdue figure is `selectors.overdue_count`'s for a reader whose scope is this subtree
    (a staff member with a role at the branch): the cases read here are the subtree's open ones,
    each group's `late` counts its overdue ones (the case list's overdue filter), and every case
    belongs to one group, so the groups' sum is exact. The dashboard then reads the subtree's open
    cases once instead of twice (40–60 ms at 100,000 cases)."""
    if user.branch_id is None:
        return [], 0
    now = timezone.now()
    late = Q(
        current_visit__left_at__isnull=True,
        current_visit__paused_at__isnull=True,
        current_visit__due_at__lt=now,
        state__in=WORKING_STAGES,
    )
    group = [F("account_manager_id"), F("current_visit__holder_role"), F("branch_id"), F("state")]
    rows = list(
        OnboardingCase.objects.filter(subtree_q("branch", user.branch), current_visit__isnull=False)
        .filter(state__in=(*declaration.initial_states(), *WORKING_STAGES))
        .annotate(
            rank=Window(
                RowNumber(), partition_by=group, order_by=[F("current_visit__entered_at").asc(), F("pk").asc()]
            ),
            n=Window(Count("pk"), partition_by=group),
            late=Window(
                Sum(Case(When(late, then=Value(1)), default=Value(0), output_field=IntegerField())), partition_by=group
            ),
        )
        .filter(rank=1)
        .values(
            "account_manager_id",
            "current_visit__holder_role",
            "branch_id",
            "branch__name",
            "branch__level",
            "branch__parent_id",
            "branch__parent__name",
            "state",
            "reference",
            "public_id",
            "current_visit__entered_at",
            "current_visit__due_at",
            "n",
            "late",
        )
    )
    overdue_total = sum(row["late"] for row in rows)
    staff: dict[tuple[str, int], list[str]] = {}
    managers: dict[int, TeamRow] = {}
    people = (
        get_user_model()
        .objects.filter(subtree_q("branch", user.branch), is_active=True, groups__name__in=Role.values)
        .filter(people_q())  # an API client's service account is not on the team
        .values_list("pk", "username", "display_name", "branch_id", "branch__name", "groups__name")
        .order_by("username")
    )
    for pk, username, display_name, branch_id, branch_name, role in people:
        staff.setdefault((role, branch_id), []).append(display_name or username)
        if role == Role.ACCOUNT_MANAGER:
            managers[pk] = TeamRow(
                who=display_name or username,
                role=f"{Role.ACCOUNT_MANAGER.label} · {branch_name}",
                params={"account_manager": pk},
                person=username,
            )
    holders: dict[tuple[str, int | None], TeamRow] = {}
    for row in rows:
        role = row["current_visit__holder_role"]
        if row["state"] in declaration.initial_states():
            role = Role.ACCOUNT_MANAGER
        am = managers.get(row["account_manager_id"])
        if role == CUSTOMER:
            if am is not None:
                am.with_customer += row["n"]
            continue
        if role == Role.ACCOUNT_MANAGER:
            if am is not None:
                am.take(row)
            continue
        where = _holder_branch(role, row)
        key = (role, where[0] if where is not None else None)
        if key not in holders:
            label = str(Role(role).label) if role in Role.values else role
            names = staff.get((role, where[0]), []) if where is not None else []
            holders[key] = TeamRow(
                who=pgettext("list separator", "、").join(names)
                if names
                else ("—" if where else str(BranchLevel.HEAD_OFFICE.label)),
                role=label if where is None else f"{label} · {where[1]}",
                params={"branch": where[0]} if where is not None else {},
            )
        holders[key].take(row)
    result = list(managers.values()) + list(holders.values())
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(result, key=lambda r: (-r.overdue, r.oldest.entered_at if r.oldest else far, r.who)), overdue_total


def _holder_branch(role: str, row: Mapping[str, Any]) -> tuple[int, str] | None:
    """Where the holding role sits for a case (its branch's id and name): head-office roles
    above the subtree (None), the supervisors at the tier-1 branch above a sub-branch's case,
    the counter at the case's own branch."""
    if role in UPPER_ROLES:
        return None
    if role == Role.BRANCH_SUPERVISOR and row["branch__level"] == BranchLevel.SUB_BRANCH and row["branch__parent_id"]:
        return row["branch__parent_id"], row["branch__parent__name"]
    return row["branch_id"], row["branch__name"]
