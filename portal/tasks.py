"""The portal's mail: invitations and message notices, rendered from the outbox (`notices.outbox`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.people import people_q
from branches.roles import Role
from branches.scope import ancestor_ids
from notices.models import OutboxEmail
from notices.outbox import renderers

from .models import CaseMessage, Invitation

if TYPE_CHECKING:
    from accounts.models import User


@renderers.add(key="invitation")
def render_invitation(row: OutboxEmail) -> tuple[str, str]:
    invitation = Invitation.objects.select_related("enterprise", "invited_by").get(pk=row.payload["invitation"])
    link = settings.SITE_URL + reverse("portal:invitation_accept", args=[row.payload["secret"]])
    context = {"invitation": invitation, "link": link}
    subject = render_to_string("email/portal_invitation_subject.txt", context).strip()
    return subject, render_to_string("email/portal_invitation.txt", context)


def message_recipients(message: CaseMessage) -> list[User]:
    """The other side of the thread: the bank hears from the customer and vice versa."""
    case = message.case
    UserModel = get_user_model()
    if message.from_customer:
        am = case.account_manager
        if am is not None and am.is_active:
            people = {am}
        else:
            ancestors = ancestor_ids(case.branch)
            people = set(
                UserModel.objects.filter(
                    people_q(), groups__name=Role.ACCOUNT_MANAGER, branch_id__in=ancestors, is_active=True
                )
            )
        # Bank staff who wrote on the thread (reviewers) hear about replies too.
        people |= set(
            UserModel.objects.filter(
                people_q(),
                pk__in=CaseMessage.objects.filter(case=case, from_customer=False).values("author_id"),
                is_active=True,
            )
        )
    else:
        people = set(UserModel.objects.filter(people_q(), enterprise_id=case.enterprise_id, is_active=True))
    people.discard(message.author)
    return sorted(people, key=lambda u: u.pk)


@renderers.add(key="message")
def render_message(row: OutboxEmail) -> tuple[str, str]:
    message = CaseMessage.objects.select_related("case__enterprise", "author").get(pk=row.payload["message"])
    case = message.case
    path = reverse("portal:case_detail" if not message.from_customer else "case_detail", args=[case.public_id])
    context = {"message": message, "case": case, "link": settings.SITE_URL + path}
    subject = render_to_string("email/portal_message_subject.txt", context).strip()
    return subject, render_to_string("email/portal_message.txt", context)
