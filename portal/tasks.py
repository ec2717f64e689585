from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from branches.roles import Role
from branches.scope import ancestor_ids

from .models import CaseMessage, Invitation


@shared_task
def send_invitation(invitation_id: int, token: str) -> int:
    invitation = Invitation.objects.select_related("enterprise", "invited_by").get(pk=invitation_id)
    link = settings.SITE_URL + reverse("portal:invitation_accept", args=[token])
    context = {"invitation": invitation, "link": link}
    subject = render_to_string("email/portal_invitation_subject.txt", context).strip()
    body = render_to_string("email/portal_invitation.txt", context)
    return send_mail(subject, body, None, [invitation.email])


def message_recipients(message: CaseMessage) -> list[str]:
    """The other side of the thread: the bank hears from the customer and vice versa."""
    case = message.case
    User = get_user_model()
    if message.from_customer:
        am = case.account_manager
        if am is not None and am.is_active:
            emails = {am.email}
        else:
            ancestors = ancestor_ids(case.branch)
            staff = User.objects.filter(groups__name=Role.ACCOUNT_MANAGER, branch_id__in=ancestors, is_active=True)
            emails = {u.email for u in staff}
        # Bank staff who wrote on the thread (reviewers) hear about replies too.
        writers = User.objects.filter(
            pk__in=CaseMessage.objects.filter(case=case, from_customer=False).values("author_id"), is_active=True
        )
        emails |= {u.email for u in writers}
    else:
        users = User.objects.filter(enterprise_id=case.enterprise_id, is_active=True)
        emails = {u.email for u in users}
        if case.enterprise.contact_email:
            emails.add(case.enterprise.contact_email)
    emails.discard(message.author.email)
    return sorted(e for e in emails if e)


@shared_task
def notify_message(message_id: int) -> int:
    message = CaseMessage.objects.select_related(
        "case__enterprise", "case__branch", "case__account_manager", "author"
    ).get(pk=message_id)
    recipients = message_recipients(message)
    if not recipients:
        return 0
    case = message.case
    path = reverse("portal:case_detail" if not message.from_customer else "case_detail", args=[case.public_id])
    context = {"message": message, "case": case, "link": settings.SITE_URL + path}
    subject = render_to_string("email/portal_message_subject.txt", context).strip()
    body = render_to_string("email/portal_message.txt", context)
    return send_mail(subject, body, None, recipients)
