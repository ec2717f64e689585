"""The page where each person chooses which notices also come by e-mail."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from . import preferences
from .models import MailKind


@login_required
def email_preferences_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        preferences.preferences_set(user=request.user, email_on=request.POST.getlist("email"))  # type: ignore[arg-type]
        messages.success(request, _("邮件通知设置已保存。站内通知始终保留。"))
        return redirect("email_preferences")
    chosen = preferences.preferences_of(request.user)  # type: ignore[arg-type]
    rows = [(kind, label, chosen[kind]) for kind, label in MailKind.choices]
    return render(request, "notices/email_preferences.html", {"rows": rows})
