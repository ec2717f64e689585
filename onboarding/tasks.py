from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string

from branches.roles import Role

from .models import CaseEvent
from .states import CUSTOMER


def holders_of(case: object) -> list[str]:
    """E-mail addresses of whoever holds the ball on the case now."""
    User = get_user_model()
    visit = case.current_visit  # type: ignore[attr-defined]
    if visit is None:
        return []
    if visit.holder_role == CUSTOMER:
        users = User.objects.filter(enterprise_id=case.enterprise_id, is_active=True)  # type: ignore[attr-defined]
        emails = [u.email for u in users if u.email]
        contact = case.enterprise.contact_email  # type: ignore[attr-defined]
        return sorted({*emails, *([contact] if contact else [])})
    if visit.holder_role == Role.ACCOUNT_MANAGER and case.account_manager_id:  # type: ignore[attr-defined]
        return [case.account_manager.email] if case.account_manager.email else []  # type: ignore[attr-defined]
    # Anyone with the holding role whose branch subtree contains the case.
    ancestors = [int(pk) for pk in case.branch.path.strip("/").split("/")]  # type: ignore[attr-defined]
    users = User.objects.filter(groups__name=visit.holder_role, branch_id__in=ancestors, is_active=True)
    return sorted({u.email for u in users if u.email})


@shared_task
def notify_event(event_id: int) -> int:
    event = CaseEvent.objects.select_related("case__enterprise", "case__branch", "case__current_visit", "actor").get(
        pk=event_id
    )
    case = event.case
    recipients = holders_of(case)
    if not recipients:
        return 0
    context = {"event": event, "case": case, "site_url": settings.SITE_URL}
    subject = render_to_string("email/case_event_subject.txt", context).strip()
    body = render_to_string("email/case_event.txt", context)
    return send_mail(subject, body, None, recipients)
