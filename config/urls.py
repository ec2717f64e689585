from __future__ import annotations

from pathlib import Path

from allauth.account import views as account_views
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from config import health

FAVICON = (Path(__file__).resolve().parent.parent / "static" / "favicon.ico").read_bytes()


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links; answer it without a redirect."""
    return HttpResponse(FAVICON, content_type="image/x-icon")


# The database not answering is a 503 page with Retry-After, wherever it fails (config/middleware.py).
handler500 = "config.middleware.server_error"
# A customer on a page meant for staff is sent to the portal (config/middleware.py).
handler403 = "config.middleware.permission_denied"

urlpatterns = [
    path("favicon.ico", favicon),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Before `admin/` and `accounts/`: the admin's login and TOTP enrolment are audit's.
    path("", include("audit.sign_in_urls")),
    # What waits to be sent or failed, on every delivery channel (delivery/admin.py).
    path("admin/delivery/", include("delivery.urls")),
    path("admin/", admin.site.urls),
    path("login/", account_views.login, name="login"),
    path("logout/", account_views.logout, name="logout"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("documents/", include("documents.urls")),
    path("counter/", include("counter.urls")),
    path("", include("links.request_urls")),  # renewal, suspension, termination, legal hold (issue 22)
    path("reminders/", include("reminders.urls")),
    path("people/", include("people.urls")),
    path("notices/", include("notices.urls")),
    path("wecom/", include("wecom.urls")),
    # The log's export is the exports' (transfers): streamed when short, else written by a worker.
    path("audit/", include("transfers.audit_urls")),
    path("audit/", include("audit.urls")),
    path("", include("links.urls")),  # /links/… and /portal/links/… (issue 22)
    path("portal/integrations/", include("api.portal_urls")),
    path("integrations/", include("api.bank_urls")),
    path("portal/", include("portal.urls")),
    path("api/v1/", include("api.urls")),
    path("analytics/", include("analytics.urls")),
    path("transfers/", include("transfers.urls")),
    path("", include("onboarding.urls")),
]


def bench_trivial(request: HttpRequest) -> HttpResponse:
    """The yardstick of bench/pages.py: no work of its own, behind every middleware."""
    return HttpResponse("ok", content_type="text/plain")


def bench_frame(request: HttpRequest) -> HttpResponse:
    """What every page pays for its frame: an empty page in the reader's base template (staff or
    portal), with its top bar, navigation and bell (bench/profile_pages.py)."""
    from django.shortcuts import render

    portal = getattr(request.user, "enterprise_id", None) is not None
    return render(request, "bench/frame_portal.html" if portal else "bench/frame.html")


if settings.BENCH_TRIVIAL_VIEW:
    urlpatterns.insert(0, path("bench/trivial", bench_trivial))
    urlpatterns.insert(0, path("bench/frame", bench_frame))
