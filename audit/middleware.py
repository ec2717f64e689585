"""Request-level security: headers and CSP, session limits, the staff second factor,
and the log of every case read by an auditor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from .mfa import has_security_key, has_totp, mfa_marked, mfa_required, security_key_required
from .receivers import LOGIN_AT_SESSION_KEY

log = logging.getLogger(__name__)

Handler = Callable[[HttpRequest], HttpResponse]

# No inline script or style, nothing from another origin. The TOTP QR code is inline SVG
# markup (templates/mfa/totp/activate_form.html), so not even data: images are needed.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response


def _login_redirect(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")


SEEN_AT_SESSION_KEY = "_seen_at"


class SessionLimitMiddleware:
    """12 hours after login a session ends, however active; a disabled user's session ends.

    The 30-minute idle limit is the session's expiry (SESSION_COOKIE_AGE), pushed forward by
    activity: at most once a minute (SESSION_RENEW_SECONDS), not on every request, so a page
    view costs no session write (an UPDATE and two savepoints) and the idle limit is exact to
    within that minute. The middleware also ends a session whose last renewal is older than
    the idle limit (and that minute), whichever session store answered.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if not request.user.is_authenticated:
            if session.get(SESSION_KEY):
                # The session names a user the auth backend refused (is_active is false, or
                # the account is gone): end it instead of keeping it around.
                session.flush()
            return self.get_response(request)
        now = time.time()
        login_at = session.get(LOGIN_AT_SESSION_KEY)
        if login_at is None:
            session[LOGIN_AT_SESSION_KEY] = now
        elif now - float(login_at) > settings.SESSION_ABSOLUTE_SECONDS:
            logout(request)
            messages.warning(request, _("登录已超过 12 小时,请重新登录。"))
            return _login_redirect(request)
        seen_at = session.get(SEEN_AT_SESSION_KEY)
        if seen_at is not None and now - float(seen_at) > settings.SESSION_COOKIE_AGE + settings.SESSION_RENEW_SECONDS:
            # The session store expires idle sessions; this holds whatever the store or its
            # cache keeps (a cached copy outliving its row, a clock that moved).
            logout(request)
            return _login_redirect(request)
        if seen_at is None or now - float(seen_at) >= settings.SESSION_RENEW_SECONDS:
            session[SEEN_AT_SESSION_KEY] = now  # marks the session modified: saved with a new expiry
        return self.get_response(request)


def _mfa_exempt(path: str) -> bool:
    # The login, enrolment and logout pages, and what they need to render.
    return path.startswith(("/accounts/", "/login/", "/logout/", "/i18n/", "/" + settings.STATIC_URL.lstrip("/")))


class MFARequiredMiddleware:
    """Staff reach no page but enrolment until their session has shown a second factor."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not mfa_required(user) or _mfa_exempt(request.path):
            return self.get_response(request)
        if mfa_marked(request.session, user):
            if security_key_required(user) and not has_security_key(user):
                # MFA_REQUIRE_SECURITY_KEY_ROLES: these roles work only once a key is enrolled.
                messages.info(request, _("您的岗位须使用安全密钥:请先添加一个安全密钥,之后即可用它登录。"))
                return HttpResponseRedirect(
                    f"{reverse('mfa_add_webauthn')}?{urlencode({'next': request.get_full_path()})}"
                )
            return self.get_response(request)
        if has_totp(user):
            # Logged in without giving the code (an old session, a side door): start again.
            logout(request)
            return _login_redirect(request)
        messages.info(request, _("银行员工账号须先启用两步验证:用验证器应用扫描二维码并输入验证码。"))
        return HttpResponseRedirect(f"{reverse('mfa_activate_totp')}?{urlencode({'next': request.get_full_path()})}")


class ReadLogMiddleware:
    """Every read of a case or a document becomes an access event (issue 25: "every read is in
    the audit log"), whoever reads it and whichever app serves the page: case pages (a
    `public_id` or `case_id` in the URL: the staff page, the portal page, their forms), document
    pages and downloads (`document_id`, `version_id`), a live link's pages (`link_id`: a read of
    the onboarding case the link came from, its page named in the event). Company pages with their members
    (`enterprise_id`) are recorded for auditors ("auditors read everything, every read logged").

    One INSERT per read, after the view: the page names the case it read (`request.case_read`)
    so no second read of it is needed. The API records its own calls (`api.views.ApiView`), the
    audit pages theirs (a break-glass read names its grant).
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # A page drawn in answer to a refused post (the case page again, with what was typed) is a
        # read too: the view names the page it drew (`onboarding.web.case_page_refused`).
        drawn = getattr(request, "page_drawn", None)
        if (
            (request.method == "GET" or drawn)
            and response.status_code == 200
            and match is not None
            and READ_KWARGS & match.kwargs.keys()
            and not (match.url_name or "").startswith("audit_")
            and "api" not in match.namespaces
            and getattr(request.user, "is_authenticated", False)
        ):
            if "enterprise_id" in match.kwargs:
                from .selectors import is_auditor

                if not is_auditor(request.user):
                    return response
            _record_read(request, match.kwargs, view=drawn or match.view_name)
        return response


READ_KWARGS = {"public_id", "case_id", "document_id", "version_id", "enterprise_id", "link_id"}


def _record_read(request: HttpRequest, kwargs: dict[str, Any], *, view: str) -> None:
    from companies.models import Enterprise
    from documents.models import Document, DocumentVersion
    from onboarding.models import OnboardingCase

    from .models import AccessEvent
    from .services import access_record

    actor = request.user
    if "version_id" in kwargs or "document_id" in kwargs:
        if "version_id" in kwargs:
            version = (
                DocumentVersion.objects.select_related("document__case").filter(public_id=kwargs["version_id"]).first()
            )
            document = version.document if version else None
            data = {"view": view, "version": str(kwargs["version_id"])}
        else:
            document = Document.objects.select_related("case").filter(public_id=kwargs["document_id"]).first()
            data = {"view": view}
        if document is not None:
            data.update(document=str(document.public_id), kind=document.kind)
            access_record(
                kind=AccessEvent.Kind.DOCUMENT_READ, actor=actor, case=document.case, request=request, data=data
            )
        return
    if "enterprise_id" in kwargs:
        enterprise = Enterprise.objects.filter(public_id=kwargs["enterprise_id"]).first()
        if enterprise is not None:
            access_record(
                kind=AccessEvent.Kind.COMPANY_READ,
                actor=actor,
                request=request,
                reason=enterprise.name,
                data={"view": view, "enterprise": str(enterprise.public_id), "name": enterprise.name},
            )
        return
    if "link_id" in kwargs:
        link = getattr(request, "link_read", None)  # the link's page names what it read
        if link is not None and str(link.public_id) == str(kwargs["link_id"]):
            data = {"view": view, "link": link.reference}
            access_record(
                kind=AccessEvent.Kind.CASE_READ, actor=actor, case=link.onboarding_case, request=request, data=data
            )
        else:  # a page on a link that names none records nothing: say so where it is seen
            log.warning("audit: %s read a link without naming it; no access event", view)
        return
    case_key = kwargs.get("public_id") or kwargs.get("case_id")
    if not case_key:
        return
    case = getattr(request, "case_read", None)  # the case page has read it already
    if case is None or str(case.public_id) != str(case_key):
        case = OnboardingCase.objects.filter(public_id=case_key).first()
    if case is not None:
        access_record(kind=AccessEvent.Kind.CASE_READ, actor=actor, case=case, request=request, data={"view": view})
