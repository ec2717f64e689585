"""Who is told about a change of a case, written in the change's own transaction.

A transition writes an in-app notice for each person who now holds the case and one mail to
them through the outbox (`notices.outbox`): if the change rolls back nobody is told, and if
the broker is down the mail waits in the outbox instead of being lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from accounts.people import people_q
from branches.roles import Role
from casetypes import declaration
from casetypes.declaration import Feature
from notices import channels, outbox
from notices.models import MailKind, OutboxEmail
from notices.preferences import mail_addresses
from notices.services import notices_create

from . import rules
from .models import CaseEvent, OnboardingCase
from .states import CUSTOMER

if TYPE_CHECKING:
    from accounts.models import User

HEAD_OFFICE_ROLES = frozenset({Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER})

# Seed data replays weeks of history; nobody should be mailed about it.
suppressed = outbox.suppressed
is_suppressed = outbox.is_suppressed


def holders_of(case: OnboardingCase) -> list[User]:
    """The people who hold the ball on the case now."""
    UserModel = get_user_model()
    visit = case.current_visit
    if visit is None:
        return []
    if visit.holder_role == CUSTOMER:
        return list(UserModel.objects.filter(people_q(), enterprise_id=case.enterprise_id, is_active=True))
    if visit.holder_role == Role.ACCOUNT_MANAGER and case.account_manager_id:
        return [case.account_manager] if case.account_manager and case.account_manager.is_active else []
    # Anyone with the holding role whose branch subtree contains the case.
    ancestors = [int(pk) for pk in case.branch.path.strip("/").split("/")]
    return list(
        UserModel.objects.filter(
            people_q(), groups__name=visit.holder_role, branch_id__in=ancestors, is_active=True
        ).distinct()
    )


def role_in_case_branches(case: OnboardingCase, role: str) -> list[User]:
    """The active people with `role` whose branch is the case's branch or one above it."""
    ancestors = [int(pk) for pk in case.branch.path.strip("/").split("/")]
    return list(
        get_user_model()
        .objects.filter(people_q(), groups__name=role, branch_id__in=ancestors, is_active=True)
        .distinct()
    )


def told_of(case: OnboardingCase) -> list[User]:
    """The holders, and where the stage issues the production configuration also head-office tech."""
    people = holders_of(case)
    if case.state in declaration.states_with(Feature.PRODUCTION_CONFIG):
        people += role_in_case_branches(case, Role.TECH_REVIEWER)
    return people


def queue_event_notice(event: CaseEvent, people: list[User] | None = None) -> None:
    """Tell whoever now holds the case (or `people`): an in-app notice and a mail through the outbox."""
    case = event.case
    people = [p for p in (told_of(case) if people is None else people) if p.pk != event.actor_id]
    text = _("%(ref)s %(company)s:%(what)s,现由您办理") % {
        "ref": case.reference,
        "company": case.enterprise.name,
        "what": event.label,
    }
    notices_create(recipients=people, case_id=case.pk, kind="handoff", text=text)
    addresses = mail_addresses(people, MailKind.HANDOFF)
    if case.current_visit is not None and case.current_visit.holder_role == CUSTOMER:
        addresses.append(case.enterprise.contact_email)
    outbox.email_queue(kind="case_event", key=f"event:{event.pk}", to=addresses, payload={"event": event.pk})
    visit = case.current_visit
    channels.announce(
        [
            channels.Announcement(
                key=f"event:{event.pk}",
                kind=channels.AnnouncementKind.HANDOFF,
                case_id=case.pk,
                text=text,
                head_office=visit is not None and visit.holder_role in HEAD_OFFICE_ROLES,
            )
        ]
    )


def holder_changed_notice(event: CaseEvent) -> None:
    """The ball moved within a stage (all joint tests passed, a retest, the customer confirmed):
    tell the new holder, reading the holder as it is now."""
    visit = event.case.current_visit
    if visit is not None:
        visit.refresh_from_db(fields=["holder_party", "holder_role"])
    queue_event_notice(event)


def production_config_notice(event: CaseEvent) -> None:
    """The production configuration is issued: the outlet's counter checkers complete UKey issuance,
    but only once there is something for them to do (issue 25). While counter work is left the
    stage stays the maker's, and each entry the maker makes tells the checkers by itself
    (`counter.notifications`); telling them "现由您办理" now would send them to an empty page."""
    if not rules.production_ready.problems(event.case):
        queue_event_notice(event, role_in_case_branches(event.case, Role.COUNTER_CHECKER))


@outbox.renderers.add(key="case_event")
def render_event_mail(row: OutboxEmail) -> tuple[str, str]:
    event = CaseEvent.objects.select_related("case__enterprise", "case__current_visit", "actor").get(
        pk=row.payload["event"]
    )
    context: dict[str, Any] = {"event": event, "case": event.case, "site_url": settings.SITE_URL}
    subject = render_to_string("email/case_event_subject.txt", context).strip()
    return subject, render_to_string("email/case_event.txt", context)
