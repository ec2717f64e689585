"""The panel of a renewal, suspension/resumption or termination request on its case page."""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from links.models import LinkEvent, LinkRequest, LiveLink
from links.request_forms import CertificateForm
from links.requests import cert_renewal, suspension, termination

register = template.Library()


def _related(case: Any, name: str) -> Any:
    try:
        return getattr(case, name)
    except ObjectDoesNotExist:
        return None


KINDS = (cert_renewal.CODE, suspension.SUSPENSION, suspension.RESUMPTION, termination.CODE)


@register.simple_tag
def link_request_panel(case: Any) -> dict[str, Any]:
    """What the panel shows: the request and its link, the newest entries, the keys to revoke."""
    # The case's own relations: on the case page already read (`links.selectors.case_page_links`),
    # elsewhere one query each on first use.
    request: LinkRequest | None = _related(case, "link_request") if case.case_type in KINDS else None
    if request is not None and request.kind not in KINDS:
        request = None
    if request is None:
        link: LiveLink | None = _related(case, "live_link")
        return {"link": link, "request": None}
    events = {
        e.name: e
        for e in LinkEvent.objects.filter(
            request=request,
            name__in=(LinkEvent.Name.CERTIFICATE_SUBMITTED, LinkEvent.Name.REVOCATION_MADE),
        ).order_by("created_at", "pk")
    }
    return {
        "request": request,
        "link": request.link,
        "kind": request.kind,
        "submitted": events.get(LinkEvent.Name.CERTIFICATE_SUBMITTED),
        "revocation": events.get(LinkEvent.Name.REVOCATION_MADE),
        "ukeys": termination.ukeys_in_use(case) if request.kind == termination.CODE else [],
        "certificate_form": CertificateForm(),
        "is_renewal": request.kind == cert_renewal.CODE,
        "expired": request.link.certificate_expires_on is not None
        and request.link.certificate_expires_on < timezone.localdate(),
        "is_termination": request.kind == termination.CODE,
        "counter_entry": case.state == cert_renewal.COUNTER_ENTERS,
        "customer_entry": case.state == cert_renewal.CUSTOMER_RENEWS,
        "counter_check": case.state == cert_renewal.COUNTER_CHECKS,
        "reason_code": request.details.get("reason_code", ""),
        "reason_label": suspension.SuspensionReason(request.details["reason_code"]).label
        if request.details.get("reason_code") in suspension.SuspensionReason.values
        else "",
    }
