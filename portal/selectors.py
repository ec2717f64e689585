"""Portal reads, scoped to the user: a customer sees its own company, staff their subtree."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import Http404

from branches.scope import subtree_q
from companies.models import Enterprise
from config.statements import prepared
from onboarding.models import OnboardingCase
from onboarding.selectors import KeysetPage, case_list, keyset_page

from .models import CaseMessage, EnterpriseMember, Invitation


def portal_case_list(*, user: Any) -> QuerySet[OnboardingCase]:
    return case_list(user=user)


def case_messages(*, case: OnboardingCase) -> QuerySet[CaseMessage]:
    return CaseMessage.objects.filter(case=case).select_related("author").order_by("created_at", "pk")


# The case pages show the newest messages; the older ones are pages of the thread's own page.
CASE_PAGE_MESSAGES = 20
THREAD_PAGE = 50


def case_messages_page(
    *, case: OnboardingCase, before: int | None = None, after: int | None = None, newest: bool = False
) -> KeysetPage:
    """A page of the case's thread (keyset on (created_at, pk), `onboarding.selectors.keyset_page`):
    the case pages' newest `CASE_PAGE_MESSAGES`, or a page of `THREAD_PAGE` of the thread page."""
    size = CASE_PAGE_MESSAGES if newest else THREAD_PAGE
    if newest and before is None and after is None:
        return _newest_messages(case, size)
    return keyset_page(case_messages(case=case), before=before, after=after, newest=newest, size=size)


def _newest_messages(case: OnboardingCase, size: int) -> KeysetPage:
    """`keyset_page(…, newest=True)` of the case's messages by a statement compiled once per
    process (`config.statements.prepared`): the case pages show it on every request."""
    statement = prepared(
        f"portal.newest_messages:{size}",
        lambda owner: (
            CaseMessage.objects.filter(case_id=owner)
            .select_related("author")
            .order_by("-created_at", "-pk")[: size + 1]
        ),
        CaseMessage,
        ["author"],
    )
    rows = [objects[0] for objects in statement.rows(case.pk)]
    more = len(rows) > size
    rows = rows[:size][::-1]
    return KeysetPage(rows=rows, older=rows[0].pk if more and rows else None, newer=None)


def _enterprise_q(user: Any) -> Q:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(pk__in=[])
    if user.enterprise_id is not None:
        return Q(pk=user.enterprise_id)
    if user.branch_id is not None:
        return subtree_q("branch", user.branch)
    return Q(pk__in=[])


def enterprise_get_for_user(*, user: Any, public_id: Any) -> Enterprise:
    try:
        return Enterprise.objects.select_related("branch").filter(_enterprise_q(user)).get(public_id=public_id)
    except (Enterprise.DoesNotExist, ValueError):
        raise Http404("no such company") from None


def member_get_for_user(*, user: Any, public_id: Any) -> EnterpriseMember:
    enterprises = Enterprise.objects.filter(_enterprise_q(user))
    try:
        return EnterpriseMember.objects.select_related("user__enterprise__branch").get(
            public_id=public_id, user__enterprise__in=enterprises
        )
    except (EnterpriseMember.DoesNotExist, ValueError):
        raise Http404("no such member") from None


def team_list(*, enterprise: Enterprise) -> QuerySet[Any]:
    """The company's people; its API clients' service accounts are managed on the integrations page."""
    return (
        get_user_model()
        .objects.filter(enterprise=enterprise, api_client__isnull=True)
        .select_related("portal_member")
        .order_by("-is_active", "username")
    )


def pending_invitations(*, enterprise: Enterprise) -> list[Invitation]:
    rows = (
        Invitation.objects.filter(enterprise=enterprise)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
    )
    return [i for i in rows if i.is_pending]


def case_open_notices(*, case: OnboardingCase, user: Any, limit: int = 5) -> list[Any]:
    """The person's unread notices of the case, newest first (the bell's, shown on the case page)."""
    from notices.models import Notification

    statement = prepared(
        f"portal.case_open_notices:{limit}",
        lambda person, owner: Notification.objects.filter(recipient_id=person, case_id=owner, read_at__isnull=True)[
            :limit
        ],
        Notification,
        owners=2,
    )
    return [objects[0] for objects in statement.rows(user.pk, case.pk)]
