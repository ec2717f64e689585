"""Receivers: a user saved inactive releases their work; work arriving for someone away is
announced to whoever stands in. The rules are in `services`; these only notice the moment."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from accounts.people import current_changer
from notices.services import notices_create
from onboarding.models import CaseEvent

from . import services
from .selectors import CASE_ROLE, absence_of, stands_in


def remember_activity(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Before a user is saved inactive: were they active until now? (Read only then.)"""
    instance._people_was_active = False
    if instance.pk is None or instance.is_active:
        return
    instance._people_was_active = bool(sender.objects.filter(pk=instance.pk, is_active=True).exists())


def release_leaver(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """A user just deactivated (an administrator, or the directory sync) holds nothing from now:
    the release runs in the save's own transaction (the admin's, the sync's)."""
    if getattr(instance, "_people_was_active", False) and not instance.is_active:
        instance._people_was_active = False
        services.leaver_release(person=instance, actor=current_changer())


def work_arrived(event: CaseEvent) -> None:
    """A transition handed a case to its account manager while they are away: tell whoever
    stands in, in the event's transaction (the named substitute, or the role's queue)."""
    if event.kind != CaseEvent.Kind.TRANSITION:
        return
    case = event.case
    visit = case.current_visit
    if case.account_manager_id is None or visit is None or visit.holder_role != CASE_ROLE:
        return
    absence = absence_of(case.account_manager_id)
    if absence is None:
        return
    if absence.substitute is not None:
        people = [absence.substitute]
    else:
        colleagues = get_user_model().objects.filter(
            is_active=True, branch_id=absence.person.branch_id, groups__name=absence.role
        )
        people = [p for p in colleagues if stands_in(absence, p)]
    text = _("%(ref)s %(company)s:%(what)s,代 %(name)s 办理") % {
        "ref": case.reference,
        "company": case.enterprise.name,
        "what": event.label,
        "name": absence.person,
    }
    notices_create(recipients=[p for p in people if p.pk != event.actor_id], case_id=case.pk, kind="handoff", text=text)
