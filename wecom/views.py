"""The daily-digest choice of each staff member, next to the e-mail notice settings."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from onboarding.web import staff_required

from . import digest, services


@staff_required
def digest_preferences_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        digest.preference_set(
            user=request.user,
            email="email" in request.POST.getlist("digest"),
            wecom="wecom" in request.POST.getlist("digest"),
        )
        messages.success(request, _("每日摘要设置已保存。"))
        return redirect("digest_preferences")
    start, _end = digest.window()
    return render(
        request,
        "wecom/digest_preferences.html",
        {
            "pref": digest.preference_of(request.user),
            "robot": services.robot_for_user(request.user),
            "start": start.strftime("%H:%M"),
        },
    )
