"""The case page shows the newest events and pages the rest (issue 26).

A case with 1,000 events costs what one with 40 costs: the page reads the newest
`CASE_PAGE_EVENTS` events and links to the history pages, which walk the whole history by
keyset on (created_at, id), each event exactly once, in both directions.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from onboarding.models import CaseEvent, State
from onboarding.selectors import CASE_HISTORY_PAGE, CASE_PAGE_EVENTS


def _grow(case: Any, n: int) -> None:
    """`n` more events, one a minute after the case's last, every fifth pair at the same instant
    (the keyset's tie-break on id must hold)."""
    last = case.events.order_by("-created_at").values_list("created_at", flat=True).first() or timezone.now()
    rows = []
    for k in range(n):
        at = last + dt.timedelta(minutes=1 + k - (1 if k % 5 == 1 else 0))
        rows.append(CaseEvent(case=case, kind=CaseEvent.Kind.MESSAGE, reason=f"记录{k:04d}号", created_at=at))
    CaseEvent.objects.bulk_create(rows)


def _reasons(html: str) -> list[str]:
    return re.findall(r"记录\d{4}号", html)


def _link(html: str, rel: str) -> str | None:
    m = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return m.group(1).replace("&amp;", "&") if m else None


def test_the_case_page_shows_the_newest_events_and_links_to_the_older(client, world, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    _grow(case, 120)
    login(client, world.am_a)
    html = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    shown = _reasons(html)
    assert shown == [f"记录{k:04d}号" for k in range(120 - CASE_PAGE_EVENTS, 120)]
    history = reverse("case_history", args=[case.public_id])
    assert f'href="{history}?before=' in html
    assert "更早的记录" in html


def test_a_short_history_has_no_link(client, world, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    login(client, world.am_a)
    html = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert case.events.count() <= CASE_PAGE_EVENTS
    assert "更早的记录" not in html
    assert html.count("<li data-event=") == case.events.count()


def test_the_history_pages_walk_every_event_once_both_ways(client, world, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    _grow(case, 2 * CASE_HISTORY_PAGE + 37)
    every = list(case.events.order_by("created_at", "pk").values_list("pk", flat=True))
    login(client, world.am_a)
    detail = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    url = re.search(r'href="([^"]*/history/\?before=\d+)"', detail).group(1)  # type: ignore[union-attr]
    seen: list[int] = []
    pages = []
    for _ in range(20):
        html = client.get(url).content.decode()
        pages.append(html)
        ids = [int(i) for i in re.findall(r'data-event="(\d+)"', html)]
        assert 0 < len(ids) <= CASE_HISTORY_PAGE
        seen = ids + seen
        older = _link(html, "prev")
        if older is None:
            break
        url = reverse("case_history", args=[case.public_id]) + older
    # With the case page's newest events, everything exactly once and in order.
    recent = [int(i) for i in re.findall(r'data-event="(\d+)"', detail)]
    assert seen + recent == every
    # And back again from the oldest page, newer and newer, to the newest event.
    forward: list[int] = [int(i) for i in re.findall(r'data-event="(\d+)"', pages[-1])]
    url_next = _link(pages[-1], "next")
    while url_next is not None:
        html = client.get(reverse("case_history", args=[case.public_id]) + url_next).content.decode()
        forward += [int(i) for i in re.findall(r'data-event="(\d+)"', html)]
        url_next = _link(html, "next")
    assert forward == every


def test_the_case_page_reads_as_many_queries_for_1005_events_as_for_41(client, world, login) -> None:
    short, long = world.case(State.BRANCH_INTAKE), world.case(State.BRANCH_INTAKE)
    _grow(short, 41 - short.events.count())
    _grow(long, 1005 - long.events.count())
    login(client, world.am_a)
    counts = []
    for case in (short, long):
        url = reverse("case_detail", args=[case.public_id])
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
        assert response.content.decode().count("<li data-event=") == CASE_PAGE_EVENTS
        history = reverse("case_history", args=[case.public_id]) + f"?before={case.events.order_by('-pk')[0].pk}"
        client.get(history)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(history).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[2], counts
    assert counts[1] == counts[3], counts


def test_the_history_page_is_not_shown_outside_the_scope_and_refuses_foreign_keys(client, world, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    other = world.case(State.BRANCH_INTAKE)
    url = reverse("case_history", args=[case.public_id])
    login(client, world.am_b)  # another branch
    assert client.get(url).status_code == 404
    login(client, world.am_a)
    assert client.get(url).status_code == 200
    foreign = other.events.first()
    assert client.get(f"{url}?before={foreign.pk}").status_code == 404
    assert client.get(f"{url}?after=x1").status_code == 404


def test_the_auditor_reading_the_history_is_recorded(client, world, login) -> None:
    from audit.models import AccessEvent

    case = world.case(State.BRANCH_INTAKE)
    login(client, world.auditor)
    before = AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ, case=case).count()
    assert client.get(reverse("case_history", args=[case.public_id])).status_code == 200
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ, case=case).count() == before + 1


def test_the_sla_panel_still_reads_old_reminders_and_suspensions(client, world, login) -> None:
    """The reminders panel and the time split read their events however old: a reminder and a
    suspension far behind the newest events still show and still count."""
    from onboarding import services

    case = world.case(State.BRANCH_INTAKE)
    services.case_transition(case=case, user=world.am_a, name="suspend", reason="客户要求暂停")
    case.refresh_from_db()
    services.case_transition(case=case, user=world.am_a, name="resume", reason="")
    CaseEvent.objects.create(
        case=case, kind=CaseEvent.Kind.REMINDER, name="", data={"level": 2, "stage": State.BRANCH_INTAKE}
    )
    login(client, world.am_a)
    url = reverse("case_detail", args=[case.public_id])

    def sla(html: str) -> str:
        return html.split('<section class="card case-sla">', 1)[1].split("</section>", 1)[0]

    before = sla(client.get(url).content.decode())
    assert "上级督办" in before
    _grow(case, 3 * CASE_PAGE_EVENTS)
    after = sla(client.get(url).content.decode())
    assert after == before
