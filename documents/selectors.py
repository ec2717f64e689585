"""Reads for documents, scoped like cases: 404 outside the user's branch subtree or company."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from onboarding.models import OnboardingCase
from onboarding.selectors import case_visible_q

from .models import Document, DocumentVersion


def _visible_cases(user: Any) -> QuerySet[OnboardingCase]:
    return OnboardingCase.objects.filter(case_visible_q(user))


def document_get_for_user(*, user: Any, public_id: Any) -> Document:
    try:
        return (
            Document.objects.filter(case__in=_visible_cases(user))
            .select_related("case__enterprise", "case__branch")
            .get(public_id=public_id)
        )
    except (Document.DoesNotExist, ValueError):
        raise Http404("no such document") from None


def version_get_for_user(*, user: Any, public_id: Any) -> DocumentVersion:
    try:
        return (
            DocumentVersion.objects.filter(document__case__in=_visible_cases(user))
            .select_related("document__case__enterprise", "document__case__branch", "uploaded_by", "reviewed_by")
            .get(public_id=public_id)
        )
    except (DocumentVersion.DoesNotExist, ValueError):
        raise Http404("no such document version") from None


def document_versions(*, document: Document) -> QuerySet[DocumentVersion]:
    return document.versions.select_related("uploaded_by", "reviewed_by").order_by("-number")
