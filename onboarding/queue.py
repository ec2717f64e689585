""" "轮到我办理": every item waiting on a person, whatever their role, each with its action.

The queue is assembled from sources. Onboarding's own: the cases whose stage the person
holds (`held_items`, the action read from the stage and the holding role), change requests
waiting for a branch supervisor's decision, production configurations to issue. Apps above
onboarding add more in their `AppConfig.ready()` (`queue.sources.add(fn)`):
the counter (entries to confirm, the maker's entries, UKey issuance to complete) and documents
(uploads to review). A source that gives a finer action for a stage the person holds names
the feature and role in its key, so the held list leaves those stages to the source.

Every source takes the user and returns `QueueItem`s with one query whatever their number, so
the dashboard's query count does not grow with the queue. Items sort by due time (overdue
first), items without a due time last.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import Role, user_roles
from branches.scope import subtree_joined_q
from casetypes import declaration
from casetypes.declaration import Feature
from casetypes.extensions import ExtensionPoint
from workcalendar import workcal

from .models import ChangeRequest, OnboardingCase, StageVisit
from .selectors import case_list, case_visible_q, my_work
from .states import CUSTOMER, OPEN_STATES

# Working days a branch supervisor has to decide a change request (it holds up no stage, but
# the customer waits for the data to be right).
CHANGE_DECISION_DAYS = 2


@dataclass(frozen=True)
class QueueItem:
    case: OnboardingCase
    action: str  # what the person has to do, in their words
    url: str  # where it is done (the case page, at the form's anchor)
    due_at: dt.datetime | None
    kind: str = ""  # which source: "stage", "counter_check", "documents", ...


Source = Callable[[Any], list[QueueItem]]
# Other apps' sources of queue items, added from their `ready()`: ``queue.sources.add(fn)``.
# A source that gives a finer action for the stages with a feature, held by a role, is added
# under the key "feature:role" (``key="counter:counter_maker"``): the held list leaves those to it.
sources: ExtensionPoint[Source] = ExtensionPoint("onboarding.queue_sources", "sources of 轮到我办理 items")


def _handled() -> list[tuple[str, str]]:
    """(state, role) pairs a source covers instead of the held list."""
    pairs = []
    for key, _source in sources.items():
        if key:
            feature, role = key.split(":")
            pairs += [(state, role) for state in declaration.states_with(feature)]
    return pairs


_UUID_SLOT = uuid.UUID(int=0)

# What an item's row shows of its case (`onboarding/queue_rows.py`) and what the queue's sources
# read of it: the company's name (its data version's, or the company's as it is), the current
# stage's holder, due time and start (a stand-in's items: `people/queue.py`). Only these columns
# are read: a case, its company and its version are wide rows.
QUEUE_RELATED = ("enterprise", "company_version", "current_visit")
QUEUE_FIELDS = (
    "case_type",
    "public_id",
    "reference",
    "state",
    "created_at",
    "enterprise__name",
    "company_version__name",
    "current_visit__holder_role",
    "current_visit__due_at",
    "current_visit__entered_at",
    "current_visit__left_at",
)


def queue_cases(ids: list[int]) -> list[OnboardingCase]:
    """The cases of `ids` in that order, with what an item shows (`QUEUE_FIELDS`)."""
    if not ids:
        return []
    rows = OnboardingCase.objects.filter(pk__in=ids).select_related(*QUEUE_RELATED).only(*QUEUE_FIELDS).order_by()
    by_id = {case.pk: case for case in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


@functools.lru_cache(maxsize=8)
def _case_url_pattern(prefix: str) -> str:
    """The case page's address around its id, reversed once per script prefix (a dashboard
    writes a hundred of them: a `reverse` each cost 60–90 µs)."""
    return reverse("case_detail", args=[_UUID_SLOT]).replace(str(_UUID_SLOT), "{}")


def case_url(case: OnboardingCase, anchor: str = "") -> str:
    url = _case_url_pattern(get_script_prefix()).format(case.public_id)
    return f"{url}#{anchor}" if anchor else url


def held_action(case: OnboardingCase) -> tuple[str, str]:
    """The action and the page anchor for the person who holds `case`'s stage now, as its
    case type declares them (`Stage.actions`). A stage the customer holds is the account
    manager's to chase, unless the stage declares what the account manager does in it."""
    visit = case.current_visit
    role = visit.holder_role if visit is not None else CUSTOMER
    stage = declaration.stage(case.state)
    if role == CUSTOMER and stage is not None and stage.action_for(Role.ACCOUNT_MANAGER) and not stage.timed:
        role = Role.ACCOUNT_MANAGER  # an untimed start (a draft): the account manager completes it
    label = declaration.state_label(case.state)
    if role == CUSTOMER:
        return _("跟进客户:%(stage)s") % {"stage": label}, "next-step"
    action = stage.action_for(role) if stage is not None else None
    return (str(action.text), action.anchor) if action is not None else (label, "next-step")


def rows_by_ids(qs: QuerySet[OnboardingCase], limit: int) -> list[OnboardingCase]:
    """The first `limit` cases of `qs`, read in two queries: their ids along the narrow join the
    filter and the order need (the case, its current visit, the scope's branches), then the rows
    by id with `qs`'s related rows. In one statement PostgreSQL spent 20–40 ms *planning* the
    seven-table join with its sort (the rows themselves took under 1 ms); apart, about 3 ms."""
    return queue_cases(list(qs.values_list("pk", flat=True)[:limit]))


def _held_ids_walk(user: Any, role: str, limit: int) -> list[int]:
    """`my_work`'s first `limit` ids for a person who holds stages as one role at a branch (a
    supervisor, the counter, head office): a walk of that role's open visits in due order
    (`open_visit_holder_due_idx`), each visit's case looked up by key and asked in a scalar
    subquery whether it is in scope, open and not left to another source. The walk stops at
    `limit` cases. Joined the other way, PostgreSQL read every open case of a tier-1 branch's
    subtree (about 5,000 at 100,000 cases, 60–90 ms) to keep 50; this reads a few hundred visits.
    The order is `my_work`'s: due time, then the case's creation (PostgreSQL sorts the ties of
    the index's order only)."""
    handled = [state for state, by in _handled() if by == role]
    case = OnboardingCase.objects.filter(
        case_visible_q(user), pk=OuterRef("case_id"), current_visit=OuterRef("pk"), state__in=OPEN_STATES
    ).exclude(state__in=["suspended", *handled])
    visits = (
        StageVisit.objects.filter(left_at__isnull=True, holder_role=role)
        .annotate(case_created=Subquery(case.values("created_at")[:1]))
        .filter(case_created__isnull=False)
        .order_by("due_at", "case_created")
    )
    return list(visits.values_list("case_id", flat=True)[:limit])


def held_items(user: Any) -> list[QueueItem]:
    """The cases whose stage the person holds (the selector `my_work`), with the action each needs."""
    roles = user_roles(user)
    if user.enterprise_id is None and len(roles) == 1 and Role.ACCOUNT_MANAGER not in roles:
        cases = queue_cases(_held_ids_walk(user, next(iter(roles)), 50))
    else:
        qs = my_work(user=user)
        for state, role in _handled():
            qs = qs.exclude(state=state, current_visit__holder_role=role)
        cases = rows_by_ids(qs, 50)
    items = []
    actions: dict[tuple[str, str | None], tuple[str, str]] = {}  # one per stage and holder, translated once
    for case in cases:
        visit = case.current_visit
        key = (case.state, visit.holder_role if visit is not None else None)
        if (found := actions.get(key)) is None:
            found = actions[key] = held_action(case)
        action, anchor = found
        due = visit.due_at if visit is not None else None
        items.append(QueueItem(case=case, action=action, url=case_url(case, anchor), due_at=due, kind="stage"))
    return items


def queue_for(user: Any, *, page: Any = None) -> list[QueueItem]:
    """Everything waiting on `user`: the held cases and every source's items, earliest due first.

    `page` (the request) carries the page's working-day calendar, so due times computed here
    and those the template shows read the holidays once."""
    if getattr(user, "enterprise_id", None) is not None:
        return []
    items = held_items(user) + change_requests_to_decide(user, page=page)
    items += [item for source in (production_configs_to_issue, *sources) for item in source(user)]
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(items, key=lambda i: (i.due_at or far, i.case.pk, i.kind))


def production_configs_to_issue(user: Any) -> list[QueueItem]:
    """Head-office tech: cases in a stage that issues the production configuration, still without one."""
    if Role.TECH_REVIEWER not in user_roles(user):
        return []
    cases = (
        case_list(user=user)
        .filter(state__in=declaration.states_with(Feature.PRODUCTION_CONFIG), production_config__isnull=True)
        .order_by("current_visit__due_at", "pk")[:50]
    )
    return [
        QueueItem(
            case=c,
            action=_("登记生产配置"),
            url=case_url(c, "production"),
            due_at=c.current_visit.due_at,
            kind="production",
        )
        for c in cases
        if c.current_visit is not None
    ]


def change_requests_to_decide(user: Any, *, page: Any = None) -> list[QueueItem]:
    """Branch supervisors: pending change requests of their subtree that someone else filed."""
    if Role.BRANCH_SUPERVISOR not in user_roles(user):
        return []
    if user.branch_id is None or not user.is_active:
        return []  # what `case_visible_q` gives nothing to
    # The pending requests (a few hundred in a bank), each checked against its own case's
    # branch, with only what the queue shows of the case: the scope as a subquery of every case
    # in it, and two more joins, took PostgreSQL 13–20 ms to plan and up to 30 ms to run.
    pending = list(
        ChangeRequest.objects.filter(status=ChangeRequest.Status.PENDING)
        .filter(subtree_joined_q("case__branch", user.branch))
        .exclude(filed_by=user)
        .select_related("case__enterprise", "case__company_version", "case__current_visit")
        .order_by("filed_at", "pk")[:50]
    )
    if not pending:
        return []
    days = [timezone.localtime(r.filed_at).date() for r in pending]
    cal = workcal.page_calendar(page, min(days), max(days) + dt.timedelta(days=30))
    return [
        QueueItem(
            case=r.case,
            action=_("审批企业资料变更申请"),
            url=case_url(r.case, "company-changes"),
            due_at=cal.add_working_days(r.filed_at, CHANGE_DECISION_DAYS),
            kind="change_request",
        )
        for r in pending
    ]
