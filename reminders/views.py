from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
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
            "notices": selectors.notification_list(user=request.user),
            "is_staff_user": getattr(request.user, "branch_id", None) is not None,
            "is_customer": getattr(request.user, "enterprise_id", None) is not None,
        },
    )


@login_required
@require_POST
def notification_mark_read_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    ids = [int(x) for x in raw if x.isdigit()] if raw else None
    notifications_mark_read(user=request.user, ids=ids)
    return redirect("notification_list")
