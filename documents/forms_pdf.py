"""Filled forms as PDF (WeasyPrint), rendered from case data through Django templates.

Rendering cannot reach the network or the file system: `StaticOnlyFetcher` serves the
project's own static files and refuses every other URL, and user text only ever enters the
HTML through auto-escaping templates. Fonts come from fontconfig (Debian fonts-noto-cjk),
not from URLs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import mimetypes
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from onboarding.states import Module

from .form_codes import CODES, form_code
from .models import DocumentKind

logger = logging.getLogger(__name__)

STATIC_ROOTS: tuple[Path, ...] = tuple(Path(p).resolve() for p in settings.STATICFILES_DIRS)
# Relative URLs in the form templates (e.g. "documents/forms.css") resolve against this.
BASE_URL = STATIC_ROOTS[0].as_uri() + "/"

TEMPLATES: dict[str, str] = {
    DocumentKind.APPLICATION_FORM: "documents/forms/application_form.html",
    DocumentKind.SERVICE_AGREEMENT: "documents/forms/service_agreement.html",
    DocumentKind.AUTHORISATION_LETTER: "documents/forms/authorisation_letter.html",
    DocumentKind.EBANKING_REGISTRATION: "documents/forms/ebanking_registration.html",
    DocumentKind.PRODUCTION_VERIFICATION_FORM: "documents/forms/production_verification_form.html",
    DocumentKind.TERMINATION_FORM: "documents/forms/termination_form.html",
    DocumentKind.LINK_CHANGE_FORM: "documents/forms/link_change_form.html",
}


class FetchRefused(ValueError):
    """WeasyPrint logs this and renders without the resource."""


class StaticOnlyFetcher(URLFetcher):
    """Serves files under the project's static directories; refuses everything else.

    Keeps what it was asked for and what it refused, so tests can check both.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("file",), allow_redirects=False)
        self.requested: list[str] = []
        self.refused: list[str] = []

    def resolve(self, url: str) -> Path | None:
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parts.path)).resolve()
        for root in STATIC_ROOTS:
            if path.is_relative_to(root) and path.is_file():
                return path
        return None

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        self.requested.append(url)
        path = self.resolve(url)
        if path is None:
            self.refused.append(url)
            logger.warning("PDF rendering refused to fetch %r", url[:200])
            raise FetchRefused(f"refused: {url[:200]}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})


# Loading fontconfig's font list costs tens of milliseconds per render; one configuration
# per thread is reused (it holds fonts only, no request data; pango objects are not
# shared between threads).
_local = threading.local()


def font_config() -> FontConfiguration:
    config = getattr(_local, "font_config", None)
    if config is None:
        config = _local.font_config = FontConfiguration()
    return config


def html_to_pdf(html: str, *, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """Our pipeline: the only way the app turns HTML into PDF."""
    fetcher = fetcher or StaticOnlyFetcher()
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf(  # type: ignore[no-any-return]
        font_config=font_config()
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _latest_results(case: Any) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for result in case.test_results.order_by("recorded_at", "pk"):
        latest[result.module] = result
    return latest


def form_context(case: Any, kind: str) -> dict[str, Any]:
    """Everything a form prints, read from the case. User text stays text: templates escape it.

    The company data is the case's version (what head office approved once past intake),
    never the company's row as it is today.
    """
    enterprise = case.company
    results = _latest_results(case)
    return {
        "kind": kind,
        "title": str(DocumentKind(kind).label),
        "bank_name": settings.BANK_NAME,
        "case": case,
        "enterprise": enterprise,
        "accounts": list(enterprise.accounts),
        "modules": [
            {
                "code": m.value,
                "label": str(m.label),
                "chosen": m.value in case.modules,
                "result": results.get(m.value),
            }
            for m in Module
        ],
        "chosen_modules": "、".join(str(Module(m).label) for m in case.modules if m in Module.values),
        "branch": case.branch,
        "account_manager": case.account_manager,
        "test_package": getattr(case, "test_package", None),
        "production_config": getattr(case, "production_config", None),
        "handler_is_legal_rep": enterprise.handler_is_legal_rep,
        "copies": ["第一联 银行留存 / Bank copy", "第二联 客户留存 / Customer copy"]
        if kind == DocumentKind.EBANKING_REGISTRATION
        else [],
    }


def render_html(kind: str, context: dict[str, Any], *, number: int, generated_at: dt.datetime | None) -> str:
    meta = {
        "reference": f"{context['case'].reference}-{CODES[kind]}-{number:02d}" if number else "",
        "code": form_code(context["case"], kind),
        "generated_at": timezone.localtime(generated_at).strftime("%Y-%m-%d %H:%M") if generated_at else "",
    }
    return render_to_string(TEMPLATES[kind], {**context, "meta": meta})


def fingerprint(kind: str, context: dict[str, Any]) -> str:
    """The form as it would print, minus its version number and time: equal means unchanged data."""
    return sha256(render_html(kind, context, number=0, generated_at=None).encode())


def render_form(
    kind: str,
    context: dict[str, Any],
    *,
    number: int,
    generated_at: dt.datetime,
    fetcher: StaticOnlyFetcher | None = None,
) -> bytes:
    return html_to_pdf(render_html(kind, context, number=number, generated_at=generated_at), fetcher=fetcher)
