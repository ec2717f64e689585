"""The audit log pages by key (issue 26): every row once, however deep, without OFFSET.

A page is found by the key (time, source, id) of the row next to it, so page 2000 costs what
page 1 does; the CSV export reads the same keyset in chunks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from audit import selectors
from audit.models import AccessEvent
from onboarding.models import CaseEvent
from onboarding.states import State

LINK = re.compile(r'<a href="\?([^"]*)" rel="(next|prev)">')


def _links(response) -> dict[str, str]:
    return {rel: unescape(query) for query, rel in LINK.findall(response.content.decode())}


def _keys(response) -> list[tuple[str, int]]:
    return [(r["src"], r["ev_id"]) for r in response.context["rows"]]


def _walk(client: Client, query: str = "", *, between=None) -> list[tuple[str, int]]:
    """Follow the page's own "next" links, as a reader clicks them, to the last page."""
    seen: list[tuple[str, int]] = []
    url = reverse("audit_log") + ("?" + query if query else "")
    while True:
        response = client.get(url)
        assert response.status_code == 200
        seen += _keys(response)
        if between is not None:
            between()
        nxt = _links(response).get("next")
        if nxt is None:
            return seen
        url = reverse("audit_log") + "?" + nxt


def _all_rows() -> set[tuple[str, int]]:
    return {("case", pk) for pk in CaseEvent.objects.values_list("pk", flat=True)} | {
        ("access", pk) for pk in AccessEvent.objects.values_list("pk", flat=True)
    }


@pytest.fixture
def log(world):
    """Case events and access events, many of them at one instant (ids repeat across the two tables)."""
    with freeze_time("2026-03-02 09:00:00"):
        world.case(State.HEAD_OFFICE_APPROVAL)
        world.case(State.BRANCH_INTAKE, company=world.company_y)
        at = timezone.now()
        AccessEvent.objects.bulk_create(
            AccessEvent(kind=AccessEvent.Kind.LOGIN_FAILED, username=f"u{i}", created_at=at) for i in range(17)
        )
    AccessEvent.objects.bulk_create(
        AccessEvent(kind=AccessEvent.Kind.LOGIN, actor=world.am_a, created_at=at - dt.timedelta(minutes=i))
        for i in range(9)
    )
    return world


def test_walking_every_page_shows_every_row_once(log, login, settings):
    settings.AUDIT_PAGE_SIZE = 4
    client = login(Client(), log.auditor)
    before = _all_rows()
    seen = _walk(client)
    # The walk's own reads are new access events, newer than its first page: not in the walk.
    assert len(seen) == len(set(seen)) == len(before) and set(seen) == before
    at = [r.created_at for r in AccessEvent.objects.filter(username__startswith="u")]
    assert len(set(at)) == 1  # the ties across the two tables were really there


def test_rows_written_during_the_walk_neither_repeat_nor_hide_a_row(log, login, settings):
    settings.AUDIT_PAGE_SIZE = 5
    client = login(Client(), log.auditor)
    before = _all_rows()

    def someone_logs_in():
        AccessEvent.objects.create(kind=AccessEvent.Kind.LOGIN_FAILED, username="meanwhile")

    seen = _walk(client, between=someone_logs_in)
    assert len(seen) == len(set(seen))
    assert before <= set(seen)  # nothing that was there is skipped by the rows added on top


def test_previous_goes_back_to_the_same_rows(log, login, settings):
    settings.AUDIT_PAGE_SIZE = 4
    client = login(Client(), log.auditor)
    first = client.get(reverse("audit_log"))
    assert "prev" not in _links(first)
    second = client.get(reverse("audit_log") + "?" + _links(first)["next"])
    third = client.get(reverse("audit_log") + "?" + _links(second)["next"])
    back = client.get(reverse("audit_log") + "?" + _links(third)["prev"])
    assert _keys(back) == _keys(second)
    # Back from the second page: the first page as it is now, with no previous link.
    top = client.get(reverse("audit_log") + "?" + _links(second)["prev"])
    assert "prev" not in _links(top) and "next" in _links(top)


def test_filters_hold_on_every_page(log, login, settings):
    settings.AUDIT_PAGE_SIZE = 2
    client = login(Client(), log.auditor)
    seen = _walk(client, "person=am_a")
    expected = {("access", pk) for pk in AccessEvent.objects.filter(actor=log.am_a).values_list("pk", flat=True)} | {
        ("case", pk) for pk in CaseEvent.objects.filter(actor=log.am_a).values_list("pk", flat=True)
    }
    assert len(seen) > 2 * 2 and set(seen) == expected and len(seen) == len(expected)
    by_date = _walk(client, "date_from=2026-03-02&date_to=2026-03-02")
    assert by_date and len(by_date) == len(set(by_date))


def test_a_hand_edited_key_starts_at_the_top(log, login):
    client = login(Client(), log.auditor)
    top = _keys(client.get(reverse("audit_log")))
    for junk in ("x", "12-z5", "-c", "99999999999999999999999-c1", "1-c"):
        assert _keys(client.get(reverse("audit_log"), {"after": junk}))[:3] == top[:3], junk


def test_a_deep_page_costs_the_queries_of_the_first_and_no_offset(log, login, settings):
    settings.AUDIT_PAGE_SIZE = 3
    client = login(Client(), log.auditor)
    client.get(reverse("audit_log"))  # session and caches warm
    pages = [reverse("audit_log")]
    response = client.get(pages[0])
    for _ in range(4):
        pages.append(reverse("audit_log") + "?" + _links(response)["next"])
        response = client.get(pages[-1])
    counts = []
    for url in (pages[0], pages[-1]):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, {"nocache": timezone.now().timestamp()}).status_code == 200
        counts.append(len(ctx.captured_queries))
        assert not [q["sql"] for q in ctx.captured_queries if "OFFSET" in q["sql"].upper()]
    assert counts[0] == counts[1]


def test_the_export_streams_every_row_by_key(log, login, monkeypatch):
    from audit import exports

    monkeypatch.setattr(exports, "EXPORT_CHUNK", 4)
    client = login(Client(), log.auditor)
    expected = len(_all_rows())
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("audit_export"))
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))[1:]
    # Every row there was, plus the export's own access event (written before the stream).
    assert len(rows) == expected + 1
    log_reads = [q["sql"] for q in ctx.captured_queries if "UNION" in q["sql"].upper()]
    assert len(log_reads) >= expected // 4  # read in chunks, each its own short query
    assert not [sql for sql in log_reads if "OFFSET" in sql.upper()]


def test_the_key_reads_back_what_it_wrote():
    at = dt.datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=dt.UTC)
    key = selectors.AuditKey(at=at, src="access", id=42)
    assert selectors.AuditKey.parse(str(key)) == key
    assert selectors.AuditKey.parse(None) is None


@pytest.mark.parametrize("few", [0, 10**9], ids=["newest first", "case by case"])
def test_a_branch_is_walked_whole_read_either_way(log, login, settings, monkeypatch, few):
    """A branch's log is its cases' events and reads and its people's logins, every row once, in
    order, whether the subtree is read along the whole log newest first or, small, case by case
    (PostgreSQL; `FEW_CASES_FACTOR` decides which here)."""
    settings.AUDIT_PAGE_SIZE = 3
    monkeypatch.setattr(selectors, "FEW_CASES_FACTOR", few)
    case_a = CaseEvent.objects.filter(case__branch=log.branch_a).values_list("case", flat=True).first()
    AccessEvent.objects.bulk_create(
        AccessEvent(kind=AccessEvent.Kind.CASE_READ, actor=reader, case_id=case, created_at=at)
        for i, (reader, case) in enumerate([(log.am_b, case_a), (log.am_a, case_a), (log.auditor, case_a)] * 3)
        for at in [timezone.now() - dt.timedelta(hours=i)]
    )
    client = login(Client(), log.auditor)
    expected = (
        {
            ("case", pk)
            for pk in CaseEvent.objects.filter(case__branch__path__startswith=log.tier1.path).values_list(
                "pk", flat=True
            )
        }
        | {
            ("access", pk)
            for pk in AccessEvent.objects.filter(case__branch__path__startswith=log.tier1.path).values_list(
                "pk", flat=True
            )
        }
        | {
            ("access", pk)
            for pk in AccessEvent.objects.filter(
                case__isnull=True, actor__branch__path__startswith=log.tier1.path
            ).values_list("pk", flat=True)
        }
    )
    seen = _walk(client, f"branch={log.tier1.pk}")
    assert len(seen) == len(set(seen)) and set(seen) == expected and len(seen) > 3 * 3
    # In the log's order: newest first, "case" above "access" at one instant, then by id.
    at = {("case", pk): t for pk, t in CaseEvent.objects.values_list("pk", "created_at")} | {
        ("access", pk): t for pk, t in AccessEvent.objects.values_list("pk", "created_at")
    }
    assert seen == sorted(seen, key=lambda k: (at[k], k[0], k[1]), reverse=True)
    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("audit_log"), {"branch": log.tier1.pk})
    case_by_case = any("LATERAL" in q["sql"] for q in ctx.captured_queries)
    assert case_by_case == (few > 0 and connection.vendor == "postgresql")
