"""The case page's live-link panel: the link of a live onboarding case, or the request a request
case belongs to with the counter's next step on it (`{% link_panel case as panel %}`)."""

from __future__ import annotations

from typing import Any

from django import template

from counter.models import CounterEntry

from ..forms import ReasonForm, ReplacementForm
from ..models import LinkRequest, LiveLink
from ..requests import ukey_loss

register = template.Library()


@register.simple_tag
def link_panel(case: Any) -> dict[str, Any]:
    link = LiveLink.objects.filter(onboarding_case_id=case.pk).first()
    request = LinkRequest.objects.select_related("link", "ukey", "opened_by").filter(case_id=case.pk).first()
    panel: dict[str, Any] = {"link": link, "request": request}
    if request is not None and request.kind == ukey_loss.CODE and request.ukey_id is not None:
        entries = CounterEntry.objects.filter(kind=CounterEntry.Kind.ISSUE_UKEY, replaces_id=request.ukey_id)
        panel["entries"] = entries.select_related("maker", "checker").order_by("made_at", "pk")
        panel["pending"] = entries.filter(status=CounterEntry.Status.PENDING).select_related("maker").first()
        panel["step"] = {ukey_loss.REPORTED: "replace", ukey_loss.CHECKING: "check"}.get(case.state, "")
        panel["replace_form"] = ReplacementForm()
        panel["reason_form"] = ReasonForm()
    return panel
