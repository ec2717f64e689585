"""Page depth and the API's access events, before and after issue 26 (keyset pages).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python bench/api_pages.py [--runs 30]

On a database of a few thousand cases and ~100,000 access events (e.g. `bench/pages_build.grow`
to 4,000 cases plus an INSERT … SELECT of access events), with the Django test client (one
process, no network): p50 of each page at three depths, the page-number pagination of before
(COUNT(*) + OFFSET; the old audit log's OFFSET into the union) against the keyset of now, and
the API case list with and without its access events (one `api_call` row and one `case_read`
row per listed case, one INSERT). Prints the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")


def p50(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.test import Client
    from django.test.utils import setup_test_environment
    from rest_framework.pagination import PageNumberPagination

    from accounts.models import User
    from api import views as api_views
    from api.services import api_client_create
    from audit import selectors
    from audit.mfa import mfa_mark
    from audit.models import AccessEvent
    from branches.models import Branch
    from onboarding.models import CaseEvent, OnboardingCase

    setup_test_environment()
    api_views.ApiView.throttle_classes = []  # the bench calls faster than a client may
    settings.ALLOWED_HOSTS = ["*"]
    runs = args.runs
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{OnboardingCase.objects.count():,} cases, {CaseEvent.objects.count():,} case events, "
        f"{AccessEvent.objects.count():,} access events"
    )

    # --- API: a head-office client sees every case --------------------------------------------
    head_office = Branch.objects.filter(parent__isnull=True).first()
    creds = api_client_create(name="bench", scopes=["read"], branch=head_office, roles=["head_office_approver"])
    token = (
        Client()
        .post(
            "/api/v1/oauth/token/",
            {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
        )
        .json()["access_token"]
    )
    api = Client(headers={"Authorization": f"Bearer {token}"})
    pages = max(1, OnboardingCase.objects.count() // 50)
    depths = [1, pages // 2, pages]

    def get(url: str) -> None:
        response = api.get(url)
        assert response.status_code == 200, (url, response.status_code)

    # Before: page numbers (COUNT(*) + OFFSET).
    class PageNumbers(PageNumberPagination):
        page_size = 50
        page_size_query_param = "page_size"
        max_page_size = 100

    keyset = api_views.ApiView.pagination_class
    api_views.ApiView.pagination_class = PageNumbers
    api_views.CaseListView.pagination_class = PageNumbers
    print("\nAPI case list, p50 ms (page of 50)")
    old = {n: p50(lambda n=n: get(f"/api/v1/cases/?page={n}"), runs) for n in depths}
    api_views.ApiView.pagination_class = keyset
    api_views.CaseListView.pagination_class = keyset
    urls = {1: "/api/v1/cases/"}
    url, n = "/api/v1/cases/", 1
    while n < pages:
        url = api.get(url).json()["next"]
        n += 1
        urls[n] = url
    new = {n: p50(lambda n=n: get(urls[n]), runs) for n in depths}
    for n in depths:
        print(f"  page {n:>4}: page numbers {old[n]:7.1f}   cursor {new[n]:7.1f}")

    # The access events of a list call: one api_call + one case_read per listed case, one INSERT.
    from audit import services as audit_services

    real_save = audit_services.access_events_save

    def skip_save(events: list) -> list:
        return events

    # Interleaved, so that a change of the machine's load falls on both alike.
    timings: dict[bool, list[float]] = {True: [], False: []}
    for i in range(2 * runs + 2):
        write = i % 2 == 0
        api_views.access_events_save = real_save if write else skip_save  # type: ignore[assignment]
        t0 = time.perf_counter()
        get("/api/v1/cases/")
        if i >= 2:
            timings[write].append((time.perf_counter() - t0) * 1000)
    api_views.access_events_save = real_save
    with_events, without = statistics.median(timings[True]), statistics.median(timings[False])
    rows = [
        audit_services.access_event(kind=AccessEvent.Kind.CASE_READ, case=c, data={"view": "api:case_list"})
        for c in OnboardingCase.objects.all()[:50]
    ]

    def insert_51() -> None:
        for r in rows:
            r.pk = None
            r._state.adding = True
        audit_services.access_events_save(list(rows) + [rows[0].__class__(kind="api_call")])

    insert = p50(insert_51, runs)
    print(
        f"\nAPI case list page 1 with its 51 access events {with_events:.1f} ms, without {without:.1f} ms "
        f"(the INSERT alone: {insert:.1f} ms)"
    )

    # --- Audit log: the auditor's page ----------------------------------------------------------
    auditor = User.objects.filter(username="auditor").first()
    staff = Client()
    staff.force_login(auditor)
    session = staff.session
    mfa_mark(session, auditor)
    session.save()
    size = settings.AUDIT_PAGE_SIZE
    total = CaseEvent.objects.count() + AccessEvent.objects.count()
    audit_depths = [1, 40, min(2000, total // size - 1)]
    print(f"\nAudit log, p50 ms (page of {size}; query alone, then the whole page with keyset)")
    for n in audit_depths:
        start = (n - 1) * size

        def old_query(start: int = start) -> None:
            list(selectors.audit_events(limit=start + size + 1)[start : start + size + 1])

        key_row = list(selectors.audit_events(limit=start + 1)[start : start + 1]) if n > 1 else []
        key = None
        if key_row:
            # The key of the row just above page n: page n starts after it.
            key_row = list(selectors.audit_events(limit=start)[start - 1 : start])
            key = selectors.AuditKey.of_row(key_row[0])

        def new_query(key: selectors.AuditKey | None = key) -> None:
            list(selectors.audit_events(after=key, limit=size + 1)[: size + 1])

        url = "/audit/" + (f"?after={key}" if key else "")

        def page(url: str = url) -> None:
            response = staff.get(url)
            assert response.status_code == 200, response.status_code

        print(
            f"  page {n:>4}: OFFSET query {p50(old_query, max(5, runs // 3)):7.1f}   "
            f"keyset query {p50(new_query, runs):6.1f}   keyset page {p50(page, runs):6.1f}"
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
