"""bench/mix.py's pieces that decide what it measures (no timing asserted here)."""

from __future__ import annotations

import re
from collections import Counter

from bench import mix

PAGE = """
<form method="post" action="/cases/11111111-2222-3333-4444-555555555555/transition/approve/" class="transition">
  <input type="hidden" name="csrfmiddlewaretoken" value="abc"><input type="hidden" name="version" value="3">
</form>
<form method="post" action="/cases/11111111-2222-3333-4444-555555555555/transition/suspend/" class="transition">
  <input type="hidden" name="csrfmiddlewaretoken" value="abc">
  <input type="hidden" name="version" value="7"><input name="form_token" type="hidden" value="t&amp;1">
  <textarea name="reason"></textarea>
</form>
"""


def test_form_on_page_takes_the_matching_form_with_its_hidden_fields() -> None:
    found = mix.form_on_page(PAGE, re.compile(r"/cases/[0-9a-f-]+/transition/(resume|suspend)/"))
    assert found == (
        "/cases/11111111-2222-3333-4444-555555555555/transition/suspend/",
        {"csrfmiddlewaretoken": "abc", "version": "7", "form_token": "t&1"},
    )
    assert mix.form_on_page(PAGE, re.compile(r"/documents/.*")) is None


def test_schedule_offers_each_kind_at_its_rate_times_the_level() -> None:
    events = mix.schedule(mix.BANK_RATE, 10, 600, seed=1)
    assert events == sorted(events) and events == mix.schedule(mix.BANK_RATE, 10, 600, seed=1)
    assert all(0 <= t < 600 for t, _ in events)
    counts = Counter(kind for _, kind in events)
    for kind, per_second in mix.BANK_RATE.items():
        expected = per_second * 10 * 600
        assert abs(counts[kind] - expected) < 5 * expected**0.5 + 3, kind  # Poisson: within 5 sigma


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert mix.percentile(values, 50) == 50 and mix.percentile(values, 95) == 95 and mix.percentile([4.0], 95) == 4
