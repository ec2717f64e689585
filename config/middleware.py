from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.views import defaults

logger = logging.getLogger("config.middleware")


class ChineseFirstLocaleMiddleware:
    """Chinese unless the person chose otherwise with the language switch.

    Django's LocaleMiddleware would follow the browser's Accept-Language, so a bank PC with
    an English browser would get English pages; here only the explicit choice (the language
    cookie set by /i18n/setlang/) changes the language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        request.LANGUAGE_CODE = language
        # override() restores the previous language afterwards, so one request's choice
        # never leaks into the next request served by the same thread.
        with translation.override(language):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


# --- the database does not answer: a 503 page, never a 500 (issue 24) ------------------------------

DATABASE_DOWN = (OperationalError, InterfaceError)


def database_down(exc: BaseException | None) -> bool:
    """`exc` says the database connection failed (refused, cut, gone), not a bug in a page."""
    return isinstance(exc, DATABASE_DOWN)


def unavailable(request: HttpRequest) -> HttpResponse:
    """The 503 page, in the reader's language, rendered without the database (no layout, no user)."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    language = chosen if chosen in {code for code, _name in settings.LANGUAGES} else settings.LANGUAGE_CODE
    retry = settings.DATABASE_RETRY_AFTER_SECONDS
    with translation.override(language):
        content = render_to_string("503.html", {"LANG": language, "retry_after": retry})
    response = HttpResponse(content, status=503)
    response["Retry-After"] = str(retry)
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = language
    return response


class DatabaseUnavailableMiddleware:
    """A view that fails because the database does not answer gets the 503 page (one log line).

    What fails before the view (a middleware reading the session or the user) reaches
    `server_error`, the handler500, which answers the same page for the same errors.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_down(exception):
            return None
        logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
        return unavailable(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the 503 page when the error is the database's connection, else Django's 500."""
    if database_down(sys.exc_info()[1]):
        return unavailable(request)
    return defaults.server_error(request)


# Pages under these paths are the customers' own (and the API answers machines): a refusal
# there is shown as one.
CUSTOMER_PATHS = ("/portal/", "/api/")
STAFF_PATHS_UNDER_PORTAL = ("/portal/staff/",)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: a customer who opens a page meant for bank staff (the site's root after
    logging in, an old link) is sent to the portal's start rather than shown a refusal; a
    post is refused as before, and a refusal on a customer page is shown."""
    from django.shortcuts import redirect

    user = getattr(request, "user", None)
    path = request.path
    customer_page = path.startswith(CUSTOMER_PATHS) and not path.startswith(STAFF_PATHS_UNDER_PORTAL)
    if (
        request.method in ("GET", "HEAD")
        and getattr(user, "is_authenticated", False)
        and getattr(user, "enterprise_id", None) is not None
        and not customer_page
    ):
        return redirect("portal:start")
    return defaults.permission_denied(request, exception)  # type: ignore[arg-type]
