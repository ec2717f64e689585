"""How a refused action or invalid form is told to the person: one place for every app's views."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from .services import CaseConflict, CaseError


def seen_version(request: HttpRequest) -> int | None:
    """The case version the page showed when it was loaded (every case form posts it)."""
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


def show_case_error(request: HttpRequest, exc: CaseError) -> None:
    """The refusal, then each missing item or broken rule it named.

    A conflict says who changed the case last and when, and what it now is, so the person
    can check the current values before trying again.
    """
    messages.error(request, exc.message)
    for problem in exc.problems:
        messages.warning(request, problem)
    if isinstance(exc, CaseConflict) and exc.current is not None:
        current = exc.current
        last = current.events.select_related("actor").order_by("-created_at", "-pk").first()
        messages.info(
            request,
            _("当前状态:%(state)s;最近一次更新:%(who)s,%(when)s(%(what)s)。")
            % {
                "state": current.get_state_display(),  # type: ignore[attr-defined]
                "who": (last.actor if last and last.actor else "—"),
                "when": timezone.localtime(current.updated_at).strftime("%Y-%m-%d %H:%M"),
                "what": last.label if last else "—",
            },
        )


def show_form_errors(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label} {error}".strip())
