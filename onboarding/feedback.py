"""How a refused action or invalid form is told to the person: one place for every app's views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from .services import CaseConflict, CaseError

if TYPE_CHECKING:
    from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view behind a login: its user is a real account (django-stubs' pattern)."""

    user: User


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


def show_current_values(request: HttpRequest, case: Any, *forms: Any) -> None:
    """After a conflict on an edit page: each field whose saved value now differs from what was typed.

    The form keeps what the person typed (nothing is lost); these lines show what the case
    holds now, so they can decide what to save.
    """
    from .models import OnboardingCase

    current = OnboardingCase.objects.select_related("enterprise").get(pk=case.pk)
    for form in forms:
        for name, typed in getattr(form, "cleaned_data", {}).items():
            for holder in (current, current.enterprise):
                if hasattr(holder, name):
                    saved = getattr(holder, name)
                    if str(saved or "") != str(typed or "") and not isinstance(typed, list | dict):
                        label = form.fields[name].label if name in form.fields else name
                        messages.warning(
                            request,
                            _("%(field)s:现在保存的是“%(saved)s”,您填写的是“%(typed)s”")
                            % {"field": label, "saved": saved or "—", "typed": typed or "—"},
                        )
                    break
