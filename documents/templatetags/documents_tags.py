"""`{% documents_panel %}`: the checklist, uploads, reviews and forms of the case in context."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from casetypes import declaration
from documents import checklist, services

register = template.Library()

_ID = "00000000-0000-0000-0000-000000000000"
_KIND = "documentkind"


class _Urls:
    """The panel's links: each route reversed once per panel and the row's id or kind put into
    it (what a `{% url %}` per row and version cost the page)."""

    def __init__(self, case: Any) -> None:
        self.case = case
        self._routes: dict[str, str] = {}

    def _route(self, name: str, *args: Any) -> str:
        if name not in self._routes:
            self._routes[name] = reverse(name, args=args)
        return self._routes[name]

    def version(self, name: str, version: Any) -> str:
        return self._route(name, _ID).replace(_ID, str(version.public_id))

    def document(self, document: Any) -> str:
        return self._route("document_detail", _ID).replace(_ID, str(document.public_id))

    def kind(self, name: str, kind: str) -> str:
        return self._route(name, self.case.public_id, _KIND).replace(_KIND, kind)


@register.inclusion_tag("documents/_panel.html", takes_context=True)
def documents_panel(context: template.Context, next_url: str = "") -> dict[str, Any]:
    case = context["case"]
    user = context["request"].user
    rows: list[dict[str, Any]] = []
    order = declaration.case_type_of(case).order
    active = declaration.active_stage(case)
    now = order.index(active) if active in order else len(order)
    urls = _Urls(case)
    for item in checklist.case_checklist(case):
        latest = item.latest
        if latest is not None and item.document is not None:
            item.document.case = case
            latest.document = item.document
        for version in (*item.versions, *item.generated_versions[:1]):
            version.download_url = urls.version("document_download", version)  # type: ignore[attr-defined]
            version.view_url = urls.version("document_view", version)  # type: ignore[attr-defined]
        can_upload = services.upload_refusal(case, user, item.kind) is None
        can_review = latest is not None and services.review_refusal(latest, user) is None
        can_generate = item.can_generate and services.generate_refusal(case, user, item.kind) is None
        rows.append(
            {
                "item": item,
                # What the row shows, worked out once here rather than by the template per use.
                "status": item.status,
                "older": item.versions[1:],
                "detail_url": urls.document(item.document) if item.document is not None else "",
                "review_url": urls.version("document_review", latest) if can_review else "",
                "upload_url": urls.kind("document_upload", item.kind) if can_upload else "",
                "generate_url": urls.kind("form_generate", item.kind) if can_generate else "",
                "can_upload": can_upload,
                "can_review": can_review,
                "can_generate": can_generate,
                # Papers of a stage the case has not reached: listed apart, folded.
                "later": item.requirement.stage in order and order.index(item.requirement.stage) > now,
                # Papers of a stage already left, settled: listed apart, folded.
                "done": item.requirement.stage in order
                and order.index(item.requirement.stage) < now
                and item.status == checklist.Status.ACCEPTED,
            }
        )
    uploadable = {r["item"].kind for r in rows if r["can_upload"]}
    return {
        "case": case,
        "rows": [r for r in rows if not (r["later"] or r["done"])],
        "done_rows": [r for r in rows if r["done"]],
        "later_rows": [r for r in rows if r["later"]],
        "reviewable": sum(1 for r in rows if r["can_review"]),
        # Every version waiting on this reviewer, for "全部审核通过" (one action, each still recorded).
        # The documents still to provide, for one form that uploads several at once: the
        # customer's (staff upload the odd one through its row; their page stays short).
        "upload_many": [
            r["item"]
            for r in rows
            if user.enterprise_id is not None
            and r["can_upload"]
            and not (r["later"] or r["done"])
            and r["item"].status in (checklist.Status.MISSING, checklist.Status.REDO, checklist.Status.REJECTED)
        ],
        "review_all": [r["item"].latest.public_id for r in rows if r["can_review"] and not (r["later"] or r["done"])],
        "signed_forms": [f for f in services.signed_form_choices(case) if f[0] in uploadable],
        "next_url": next_url,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def document_label(kind: str) -> str:
    """A document kind's name in the reader's language."""
    from documents.models import DocumentKind

    return str(DocumentKind(kind).label) if kind in DocumentKind.values else kind


@register.filter
def needs_document(case: Any, kind: str) -> bool:
    """Whether the case's type asks this case for a document of `kind` (at any stage)."""
    return any(r.kind == kind for r in checklist.requirements(case))
