"""Reads for people change: who manages whom, what a person holds, who stands in for whom today."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.people import people_q
from branches.roles import Role, user_roles
from branches.scope import branch_in_subtree, subtree_q
from counter.models import CounterEntry
from onboarding.models import OnboardingCase
from onboarding.states import OPEN_STATES

from .models import Absence, LeaverItem

# Who may move others' work and set their absences: a branch supervisor in his subtree, head
# office (its approvers sit at the root, so their subtree is the bank).
MANAGER_ROLES = (Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER)
# The roles whose work is a person's own: an account manager's cases, a counter maker's entries.
# Every other role's work is held by the role at a branch and moves with nobody.
CASE_ROLE = Role.ACCOUNT_MANAGER
ENTRY_ROLE = Role.COUNTER_MAKER
ABSENCE_ROLES = (Role.ACCOUNT_MANAGER, Role.COUNTER_MAKER, Role.COUNTER_CHECKER, Role.BRANCH_SUPERVISOR)


def is_manager(user: Any) -> bool:
    return user.branch_id is not None and bool(user_roles(user) & set(MANAGER_ROLES))


def manages(actor: Any, person: Any) -> bool:
    """`actor` may move `person`'s work: a manager whose subtree holds the person's branch."""
    return is_manager(actor) and person.branch_id is not None and branch_in_subtree(person.branch, actor)


def staff_in_scope(*, actor: Any) -> QuerySet[Any]:
    """People (not service accounts) of the actor's branch subtree, active or not."""
    if actor.branch_id is None:
        return get_user_model().objects.none()
    return (
        get_user_model()
        .objects.filter(subtree_q("branch", actor.branch))
        .filter(people_q())
        .select_related("branch")
        .order_by("username")
    )


def person_for_manager(*, actor: Any, username: str) -> Any:
    """The person whose work `actor` manages, else 404 (another branch's staff are not found)."""
    if not is_manager(actor):
        raise Http404("not a manager")
    try:
        return staff_in_scope(actor=actor).get(username=username)
    except get_user_model().DoesNotExist:
        raise Http404("no such person") from None


def substitute_choices(*, actor: Any) -> QuerySet[Any]:
    """Whom an absence may name: active people of the actor's subtree (a manager) or of the
    branch above the actor's (a colleague at a neighbouring outlet); the service checks the role."""
    root = actor.branch if is_manager(actor) or actor.branch.parent_id is None else actor.branch.parent
    return (
        get_user_model()
        .objects.filter(subtree_q("branch", root), is_active=True)
        .filter(people_q())
        .select_related("branch")
        .order_by("username")
    )


def role_label(role: str) -> str:
    return str(Role(role).label) if role in Role.values else role


def colleagues_with_role(*, actor: Any, role: str, exclude: Any = None) -> list[Any]:
    """Active people of the actor's subtree holding `role`: who may take work over."""
    qs = staff_in_scope(actor=actor).filter(is_active=True, groups__name=role).distinct()
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return list(qs)


def held_cases(*, person: Any) -> QuerySet[OnboardingCase]:
    """The open cases a person manages (the cases whose account manager they are)."""
    return (
        OnboardingCase.objects.filter(account_manager=person, state__in=OPEN_STATES)
        .select_related("enterprise", "company_version", "branch", "current_visit", "account_manager")
        .order_by("created_at", "pk")
    )


def held_entries_q(person_id: int) -> Q:
    """Pending counter entries a person answers for on the maker's side: made by them and not
    handed on, or handed to them."""
    return Q(status=CounterEntry.Status.PENDING) & (
        Q(maker_id=person_id, people_holder__isnull=True) | Q(people_holder__holder_id=person_id)
    )


def held_entries(*, person: Any) -> QuerySet[CounterEntry]:
    return (
        CounterEntry.objects.filter(held_entries_q(person.pk))
        .select_related("case__enterprise", "case__branch", "maker", "operator", "ukey")
        .order_by("made_at", "pk")
    )


def today() -> dt.date:
    return timezone.localdate()


def active_absences(*, day: dt.date | None = None) -> QuerySet[Absence]:
    day = day or today()
    return Absence.objects.filter(cancelled_at__isnull=True, starts_on__lte=day, ends_on__gte=day)


def absence_of(person_id: int | None, *, day: dt.date | None = None) -> Absence | None:
    """The person's absence today, if any (with the substitute)."""
    if person_id is None:
        return None
    return active_absences(day=day).filter(person_id=person_id).select_related("person", "substitute").first()


def stands_in(absence: Absence, user: Any) -> bool:
    """`user` takes the absent person's work: the named substitute, or (no substitute) a
    colleague holding the role at the person's branch."""
    if user.pk == absence.person_id or not getattr(user, "is_active", False):
        return False
    if absence.substitute_id is not None:
        return bool(absence.substitute_id == user.pk)
    return absence.role in user_roles(user) and user.branch_id == absence.person.branch_id


def absences_covered_by(user: Any, *, day: dt.date | None = None) -> list[Absence]:
    """Today's absences whose work `user` takes (as the substitute or from the role's queue)."""
    if getattr(user, "branch_id", None) is None:
        return []
    roles = list(user_roles(user))
    qs = (
        active_absences(day=day)
        .filter(Q(substitute=user) | Q(substitute__isnull=True, role__in=roles, person__branch_id=user.branch_id))
        .exclude(person=user)
        .select_related("person__branch", "substitute")
    )
    return list(qs)


def on_behalf_of(case: Any, actor: Any) -> dict[str, Any]:
    """For the event data: the absent account manager `actor` acts for on `case` (empty if none)."""
    am_id = getattr(case, "account_manager_id", None)
    if am_id is None or actor.pk == am_id or getattr(actor, "branch_id", None) is None:
        return {}
    absence = absence_of(am_id)
    if absence is None or not stands_in(absence, actor):
        return {}
    return {"on_behalf_of": am_id, "on_behalf_of_name": str(absence.person)}


def entry_stand_in_q(user: Any) -> Q:
    """Counter entries `user` answers for in the maker's place (a filter on `CounterEntry`): those
    handed to them, and while a colleague is away naming them substitute, the colleague's."""
    covered = active_absences().filter(substitute_id=user.pk).values("person_id")
    return Q(people_holder__holder_id=user.pk) | Q(maker_id__in=covered) | Q(people_holder__holder_id__in=covered)


def leaver_items(*, actor: Any) -> QuerySet[LeaverItem]:
    """The leaver queue of a manager: open work of deactivated people, cases of his subtree."""
    if not is_manager(actor):
        return LeaverItem.objects.none()
    return (
        LeaverItem.objects.filter(resolved_at__isnull=True)
        .filter(subtree_q("case__branch", actor.branch))
        .select_related("former", "case__enterprise", "case__branch", "case__current_visit", "entry__maker")
        .order_by("former__username", "queued_at", "pk")
    )


def absences_visible(*, actor: Any) -> QuerySet[Absence]:
    """Own absences and substitutions, and (managers) those of the subtree; current and future."""
    q = Q(person=actor) | Q(substitute=actor)
    if is_manager(actor):
        q |= Q(person__in=staff_in_scope(actor=actor).values("pk"))
    return (
        Absence.objects.filter(q, ends_on__gte=today())
        .select_related("person__branch", "substitute", "set_by", "cancelled_by")
        .order_by("starts_on", "pk")
    )
