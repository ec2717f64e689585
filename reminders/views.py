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

from notices.kinds import render as render_notice
from notices.services import notifications_mark_read
from onboarding.web import AuthenticatedHttpRequest

from . import selectors

LIST_LIMIT = 100  # the notices the page lists, newest first


@login_required
def notification_list_view(request: HttpRequest) -> HttpResponse:
    return _notification_list(request)


def _notification_list(request: HttpRequest) -> HttpResponse:
    notices = selectors.notification_lines(user=request.user, limit=LIST_LIMIT)
    if len(notices) < LIST_LIMIT:
        # The page lists every notice the person has: the bell counts the unread among them
        # rather than asking the database again (templatetags.reminders.unread_notifications).
        request.unread_notifications = sum(1 for n in notices if n[5] is None)  # type: ignore[attr-defined]
    return render(
        request,
        "reminders/notifications.html",
        {
            "notices": notice_rows(notices, user=request.user),
            "base_template": frame_template(request.user),
        },
    )


def frame_template(user: Any) -> str:
    """The frame a page shared by staff and customers is drawn in: a company's user reads it in the
    portal's (its navigation), as the 403 and 404 pages are; staff in the workspace's."""
    return "portal/base.html" if getattr(user, "enterprise_id", None) is not None else "base.html"


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A notice as its line shows it, worked out before the template (issue 26: 100 lines of
    tags, filters and `{% url %}` cost more than the rest of the page)."""

    pk: int
    when: str
    read: bool
    cleared: bool
    message: str
    url: str  # the case's page for this reader (staff or the company's), else the notice's own page, else ""


_UUID_SLOT = uuid.UUID(int=0)


def _page_of(params: Any) -> str:
    """A notice about no case may name a page of this site (`params["path"]`: a ready export)."""
    path = params.get("path") if isinstance(params, dict) else None
    return path if isinstance(path, str) and path.startswith("/") and not path.startswith("//") else ""


def notice_rows(notices: list[tuple[Any, ...]], *, user: Any) -> list[NoticeRow]:
    """The lines of `selectors.notification_lines` (`NOTICE_LINE`'s columns) as the page shows them."""
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
            pk=pk,
            when=timezone.localtime(created_at).strftime("%Y-%m-%d %H:%M"),
            read=read_at is not None,
            cleared=cleared_at is not None,
            message=render_notice(kind, params, text),
            url=case_url.format(case_public_id) if case_url and case_public_id is not None else _page_of(params),
        )
        for pk, kind, text, params, created_at, read_at, cleared_at, case_public_id in notices
    ]


@login_required
@require_POST
def notification_mark_read_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    ids = [int(x) for x in raw if x.isdigit()] if raw else None
    notifications_mark_read(user=request.user, ids=ids)
    return redirect("notification_list")
