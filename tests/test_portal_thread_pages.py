"""The case thread is paged (issue 26): the case pages, staff and portal, show the newest
`CASE_PAGE_MESSAGES` messages and link to the thread's pages, which walk the whole thread by
keyset on (created_at, id), each message exactly once, in both directions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from onboarding.models import State
from portal.models import CaseMessage
from portal.selectors import CASE_PAGE_MESSAGES, THREAD_PAGE


def _grow(case: Any, world: Any, n: int) -> None:
    """`n` messages a minute apart, both sides, every fifth pair at the same instant (the
    keyset's tie-break on id must hold)."""
    start = timezone.now() - dt.timedelta(days=10)
    rows = []
    for k in range(n):
        at = start + dt.timedelta(minutes=1 + k - (1 if k % 5 == 1 else 0))
        customer = k % 2 == 0
        author = world.customer_x if customer else world.am_a
        rows.append(CaseMessage(case=case, author=author, from_customer=customer, body=f"留言{k:04d}号", created_at=at))
    CaseMessage.objects.bulk_create(rows)


def _bodies(html: str) -> list[str]:
    return re.findall(r"留言\d{4}号", html)


def _link(html: str, rel: str) -> str | None:
    m = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return m.group(1).replace("&amp;", "&") if m else None


def _walk(client: Any, case_page: str, thread_url: str) -> None:
    """From the case page back to the first message and forward again: nothing lost, nothing twice."""
    every = [f"留言{k:04d}号" for k in range(200)]
    detail = client.get(case_page).content.decode()
    recent = _bodies(detail)
    assert recent == every[-CASE_PAGE_MESSAGES:]
    older = _link(detail, "prev")
    assert older is not None and older.startswith(f"{thread_url}?before=")
    seen: list[str] = []
    pages = []
    url: str | None = older
    while url is not None:
        html = client.get(url).content.decode()
        pages.append(html)
        bodies = _bodies(html)
        assert 0 < len(bodies) <= THREAD_PAGE
        seen = bodies + seen
        prev = _link(html, "prev")
        url = thread_url + prev if prev else None
    assert len(pages) == -(-(200 - CASE_PAGE_MESSAGES) // THREAD_PAGE)
    assert seen + recent == every
    forward = _bodies(pages[-1])
    nxt = _link(pages[-1], "next")
    while nxt is not None:
        html = client.get(thread_url + nxt).content.decode()
        forward += _bodies(html)
        nxt = _link(html, "next")
    assert forward == every
    # The thread's page without a key starts at the oldest message.
    assert _bodies(client.get(thread_url).content.decode()) == every[:THREAD_PAGE]


def test_the_staff_case_page_shows_the_newest_messages_and_the_rest_page_by_page(client, world, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    _grow(case, world, 200)
    login(client, world.am_a)
    _walk(
        client,
        reverse("case_detail", args=[case.public_id]),
        reverse("portal:staff_case_thread", args=[case.public_id]),
    )


def test_the_portal_case_page_shows_the_newest_messages_and_the_rest_page_by_page(client, world, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    _grow(case, world, 200)
    login(client, world.customer_x)
    _walk(
        client,
        reverse("portal:case_detail", args=[case.public_id]),
        reverse("portal:case_thread", args=[case.public_id]),
    )


def test_a_short_thread_has_no_link_and_the_form_stays_on_the_case_page(client, world, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    _grow(case, world, CASE_PAGE_MESSAGES)
    login(client, world.customer_x)
    html = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert len(_bodies(html)) == CASE_PAGE_MESSAGES and "更早的留言" not in html
    assert reverse("portal:case_message", args=[case.public_id]) in html
    thread = client.get(reverse("portal:case_thread", args=[case.public_id])).content.decode()
    assert len(_bodies(thread)) == CASE_PAGE_MESSAGES
    assert reverse("portal:case_message", args=[case.public_id]) not in thread  # reading only


def test_the_case_pages_cost_the_same_queries_for_200_messages_as_for_3(client, world, login) -> None:
    short, long = world.case(State.BRANCH_INTAKE), world.case(State.BRANCH_INTAKE)
    _grow(short, world, 3)
    _grow(long, world, 200)
    for user, name in ((world.am_a, "case_detail"), (world.customer_x, "portal:case_detail")):
        login(client, user)
        counts = []
        for case in (short, long):
            url = reverse(name, args=[case.public_id])
            client.get(url)
            with CaptureQueriesContext(connection) as ctx:
                html = client.get(url).content.decode()
            counts.append(len(ctx.captured_queries))
            assert len(_bodies(html)) == min(CASE_PAGE_MESSAGES, case.messages.count())
        assert counts[0] == counts[1], (name, counts)


def test_the_thread_pages_are_not_shown_outside_the_scope_and_refuse_foreign_keys(client, world, login) -> None:
    case, other = world.case(State.BRANCH_INTAKE), world.case(State.BRANCH_INTAKE)
    _grow(case, world, 3)
    _grow(other, world, 3)
    staff = reverse("portal:staff_case_thread", args=[case.public_id])
    portal = reverse("portal:case_thread", args=[case.public_id])
    login(client, world.am_b)  # another branch
    assert client.get(staff).status_code == 404
    login(client, world.customer_y)  # another company
    assert client.get(portal).status_code == 404
    response = client.get(staff)  # a customer on a staff page is sent to the portal
    assert response.status_code == 302 and not _bodies(response.content.decode())
    login(client, world.customer_x)
    assert client.get(portal).status_code == 200
    foreign = other.messages.first()
    assert client.get(f"{portal}?before={foreign.pk}").status_code == 404
    assert client.get(f"{portal}?after=x1").status_code == 404
    login(client, world.am_a)
    assert client.get(staff).status_code == 200
    assert client.get(portal).status_code == 403
    assert client.get(f"{staff}?after={foreign.pk}").status_code == 404


def test_the_auditor_reading_the_thread_is_recorded(client, world, login) -> None:
    from audit.models import AccessEvent

    case = world.case(State.BRANCH_INTAKE)
    _grow(case, world, 3)
    login(client, world.auditor)
    before = AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ, case=case).count()
    html = client.get(reverse("portal:staff_case_thread", args=[case.public_id])).content.decode()
    assert _bodies(html) == ["留言0000号", "留言0001号", "留言0002号"]
    assert reverse("portal:staff_case_message", args=[case.public_id]) not in html  # the auditor does not write
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ, case=case).count() == before + 1
