"""The case page's live-link panel: the link of a live onboarding case, or the request a request
case belongs to with the counter's next step on it (`{% link_panel case as panel %}`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ObjectDoesNotExist

from counter.models import CounterEntry

from ..forms import ReasonForm, ReplacementForm
from ..models import LinkRequest, LiveLink
from ..requests import account_change, operator_change, ukey_loss
from . import link_requests

register = template.Library()


def _related(case: Any, name: str) -> Any:
    """A reverse one-to-one of the case (read with the case row on its page), or None."""
    try:
        return getattr(case, name)
    except ObjectDoesNotExist:
        return None


@register.simple_tag
def link_panel(case: Any) -> dict[str, Any]:
    link: LiveLink | None = _related(case, "live_link")
    request: LinkRequest | None = _related(case, "link_request")
    # A renewal, suspension/resumption or termination has its own fuller card (`_staff_panel.html`),
    # an operator or accounts change its change panel (`_change_panel.html`, with these facts):
    # the request is not shown twice.
    if request is not None and request.kind in (*link_requests.KINDS, operator_change.CODE, account_change.CODE):
        request = None
    panel: dict[str, Any] = {"link": link, "request": request}
    if request is not None and request.kind == ukey_loss.CODE and request.ukey_id is not None:
        entries = CounterEntry.objects.filter(kind=CounterEntry.Kind.ISSUE_UKEY, replaces_id=request.ukey_id)
        panel["entries"] = entries.select_related("maker", "checker").order_by("made_at", "pk")
        panel["pending"] = entries.filter(status=CounterEntry.Status.PENDING).select_related("maker").first()
        panel["step"] = {ukey_loss.REPORTED: "replace", ukey_loss.CHECKING: "check"}.get(case.state, "")
        panel["replace_form"] = ReplacementForm()
        panel["reason_form"] = ReasonForm()
    return panel
