from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from notices.services import notifications_mark_read
from onboarding.web import AuthenticatedHttpRequest

from . import selectors


@login_required
def notification_list_view(request: HttpRequest) -> HttpResponse:
    return _notification_list(request)


def _notification_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "reminders/notifications.html",
        {
            "notices": notice_rows(selectors.notification_list(user=request.user), user=request.user),
            # A company's user reads their notices in the portal's frame (its menu), not the staff workspace's.
            "is_customer": getattr(request.user, "enterprise_id", None) is not None,
        },
    )


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A notice as its line shows it, worked out before the template (issue 26: 100 lines of
    tags, filters and `{% url %}` cost more than the rest of the page)."""

    pk: int
    when: str
    read: bool
    cleared: bool
    message: str
    url: str  # the case's page for this reader (staff or the company's), else ""


_UUID_SLOT = uuid.UUID(int=0)


def notice_rows(notices: Any, *, user: Any) -> list[NoticeRow]:
    if getattr(user, "branch_id", None) is not None:
        case_url = reverse("case_detail", args=[_UUID_SLOT])
    elif getattr(user, "enterprise_id", None) is not None:
        case_url = reverse("portal:case_detail", args=[_UUID_SLOT])
    else:
        case_url = ""
    # One reverse for the page: every case's address is the same path around its id.
    case_url = case_url.replace(str(_UUID_SLOT), "{}")
    return [
        NoticeRow(
            pk=n.pk,
            when=timezone.localtime(n.created_at).strftime("%Y-%m-%d %H:%M"),
            read=n.read_at is not None,
            cleared=n.cleared_at is not None,
            message=n.message,
            url=case_url.format(n.case.public_id) if case_url and n.case_id is not None else "",
        )
        for n in notices
    ]


@login_required
@require_POST
def notification_mark_read_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    ids = [int(x) for x in raw if x.isdigit()] if raw else None
    notifications_mark_read(user=request.user, ids=ids)
    return redirect("notification_list")
