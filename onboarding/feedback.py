"""How a refused action or invalid form is told to the person: one place for every app's views."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from .services import CaseError


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
