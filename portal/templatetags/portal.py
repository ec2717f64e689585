from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from onboarding.models import OnboardingCase

from ..forms import MessageForm
from ..selectors import case_messages_page
from ..services import message_may_post

register = template.Library()


@register.inclusion_tag("portal/_staff_case_panel_body.html", takes_context=True)
def staff_case_panel(context: Any, case: OnboardingCase) -> dict[str, Any]:
    """The case thread on the staff case page (the page has already scoped the case)."""
    user = context["request"].user
    page = case_messages_page(case=case, newest=True)
    thread_url = reverse("portal:staff_case_thread", args=[case.public_id])
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "case": case,
        "thread": page.rows,
        "thread_older_url": f"{thread_url}?before={page.older}" if page.older else "",
        "message_form": MessageForm(),
        "post_url": reverse("portal:staff_case_message", args=[case.public_id]) if message_may_post(user) else "",
    }
