"""What writing a read event costs a page (issue 25), measured with the test client.

Not collected by the suite (no test_ prefix); run it by name:
    ALLOW_INSECURE_DEV_KEY=true .venv/bin/python -m pytest -n 0 -q -s tests/bench_read_log.py
It reads the staff case page and the portal case page ROUNDS × BATCH
times with the read log on and off (audit.middleware.ReadLogMiddleware removed), alternating
batches so that a drift of the shared machine hits both sides alike, and prints the median
time per request of each side and their ratio.
"""

from __future__ import annotations

import statistics
import time

from django.conf import settings as django_settings
from django.test import Client, override_settings
from django.urls import reverse

from audit.models import AccessEvent
from onboarding.states import State

ROUNDS, BATCH = 10, 30  # 300 requests each side per page
WITHOUT = [m for m in django_settings.MIDDLEWARE if m != "audit.middleware.ReadLogMiddleware"]


def _batch(get, url) -> float:
    start = time.perf_counter()
    for _ in range(BATCH):
        response = get(url)
        assert response.status_code == 200
    return (time.perf_counter() - start) / BATCH


def test_bench_read_log(world, login):
    case = world.case(State.JOINT_TESTING)
    staff = login(Client(), world.am_a)
    customer = login(Client(), world.customer_x)
    pages = {
        "staff case page": (staff.get, reverse("case_detail", args=[case.public_id])),
        "portal case page": (customer.get, reverse("portal:case_detail", args=[case.public_id])),
    }
    for name, (get, url) in pages.items():
        on: list[float] = []
        off: list[float] = []
        get(url)
        for _ in range(ROUNDS):
            before = AccessEvent.objects.count()
            on.append(_batch(get, url))
            assert AccessEvent.objects.count() - before == BATCH  # one row per read
            with override_settings(MIDDLEWARE=WITHOUT):
                off.append(_batch(get, url))
        a, b = statistics.median(on) * 1000, statistics.median(off) * 1000
        print(
            f"\n{name}: read log on {a:.2f} ms, off {b:.2f} ms per request, ratio {a / b:.3f} ({ROUNDS * BATCH} each)"
        )
    # The row itself, timed alone (what the middleware adds after the view).
    from audit.middleware import _record_read

    request = staff.get(pages["staff case page"][1]).wsgi_request
    times = []
    for _ in range(ROUNDS * BATCH):
        start = time.perf_counter()
        _record_read(request, {"public_id": case.public_id}, view="case_detail")
        times.append(time.perf_counter() - start)
    print(f"one read event (lookup + INSERT): median {statistics.median(times) * 1000:.3f} ms")
