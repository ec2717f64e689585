"""What every app's views share: who may open staff pages, the case as the person asking may see
it, and how a refusal or an invalid form is told. Views import this module, never each other."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from branches.roles import STAFF_ROLES, user_roles

from . import selectors
from .models import OnboardingCase
from .services import CaseError
from .states import STAGE_HOLDER, WORKING_STAGES, State

View = Callable[..., HttpResponse]


def staff_required(view: View) -> View:
    """Bank staff only: enterprise users and accounts without a role never reach these pages."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.branch_id is None or not (user_roles(user) & STAFF_ROLES):  # type: ignore[union-attr]
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def case_for(request: HttpRequest, public_id: Any) -> OnboardingCase:
    """The case if the person asking may see it (their branch subtree or company), else 404."""
    return selectors.case_get_for_user(user=request.user, public_id=public_id)


def show_case_error(request: HttpRequest, exc: CaseError) -> None:
    """The refusal, then each missing item or broken rule it named."""
    messages.error(request, exc.message)
    for problem in exc.problems:
        messages.warning(request, problem)


def show_form_errors(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label} {error}".strip())


def run_action(request: HttpRequest, form: Any, action: Callable[[], Any], done: str) -> bool:
    """Check the form (if any), run the service, and tell the person what happened."""
    if form is not None and not form.is_valid():
        show_form_errors(request, form)
        return False
    try:
        action()
    except CaseError as exc:
        show_case_error(request, exc)
        return False
    messages.success(request, done)
    return True


def stage_tracker(case: OnboardingCase) -> list[dict[str, Any]]:
    """The six working stages of a case: done, current or to do, with the latest visit of each."""
    visits: dict[str, Any] = {}
    for v in case.visits.order_by("entered_at", "pk"):
        visits[v.stage] = v  # the latest visit of each stage
    current = case.state_before_suspend if case.state == State.SUSPENDED else case.state
    order = list(WORKING_STAGES)
    reached = order.index(current) if current in order else (len(order) if case.state == State.LIVE else -1)
    rows = []
    for i, code in enumerate(order):
        visit = visits.get(code)
        rows.append(
            {
                "code": code,
                "label": State(code).label,
                "visit": visit,
                "status": "done" if i < reached else ("current" if i == reached else "todo"),
                "holder": STAGE_HOLDER[code][0],
            }
        )
    return rows
