"""The live link's page shows its newest events and requests and pages the rest (issue 26):
a link's page costs the same after years of service. The history and requests pages walk
everything by keyset, each row exactly once, in both directions, on the staff side and the
portal's, in scope only."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from links import selectors
from links.models import LinkEvent, LinkRequest, LiveLink
from links.requests import ukey_loss
from onboarding.states import State


@pytest.fixture
def link(world: Any) -> LiveLink:
    return LiveLink.objects.get(onboarding_case=world.case(State.LIVE))


def _grow(link: LiveLink, n: int) -> None:
    """`n` events a minute apart, every fifth pair at the same instant (the tie-break on id)."""
    start = timezone.now() + dt.timedelta(minutes=1)
    rows = [
        LinkEvent(
            link=link,
            name=LinkEvent.Name.RENEWAL_REMINDED,
            reason=f"记录{k:04d}号",
            created_at=start + dt.timedelta(minutes=k - (1 if k % 5 == 1 else 0)),
        )
        for k in range(n)
    ]
    LinkEvent.objects.bulk_create(rows)


def _requests(world: Any, link: LiveLink, n: int) -> list[str]:
    """`n` closed requests, opened a day apart (two at the same instant); their references, oldest first."""
    from onboarding import services as case_services

    start = timezone.now() - dt.timedelta(days=n + 1)
    refs = []
    for k in range(n):
        case = case_services.case_create(
            user=world.maker, enterprise=link.enterprise, modules=[], case_type=ukey_loss.CODE
        )
        at = start + dt.timedelta(days=k - (1 if k % 5 == 1 else 0))
        LinkRequest.objects.create(
            link=link,
            case=case,
            kind=LinkRequest.TERMINATION,
            channel="counter",
            opened_by=world.maker,
            opened_at=at,
            is_open=False,
            closed_at=at,
        )
        refs.append(case.reference)
    return refs


def _records(html: str) -> list[str]:
    return re.findall(r"记录\d{4}号", html)


def _link(html: str, rel: str) -> str | None:
    m = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return m.group(1).replace("&amp;", "&") if m else None


def _older(html: str, page: str) -> str:
    m = re.search(rf'<a href="({re.escape(page)}\?before=\d+)"', html)
    assert m, page
    return m.group(1)


@pytest.mark.parametrize("side", ["staff", "portal"])
def test_the_link_page_shows_the_newest_history_and_the_rest_page_by_page(client, world, link, side) -> None:
    _grow(link, 200)
    every = [f"记录{k:04d}号" for k in range(200)]
    client.force_login(world.supervisor if side == "staff" else world.customer_x)
    page_name = "links:link_detail" if side == "staff" else "links:portal_link"
    history = reverse(f"links:{'link' if side == 'staff' else 'portal_link'}_history", args=[link.public_id])
    detail = client.get(reverse(page_name, args=[link.public_id])).content.decode()
    recent = _records(detail)
    assert recent == every[-selectors.LINK_PAGE_ROWS :]
    url: str | None = _older(detail, history)
    seen: list[str] = []
    pages = []
    while url is not None:
        html = client.get(url).content.decode()
        pages.append(html)
        assert 0 < len(_records(html)) <= selectors.LINK_HISTORY_PAGE
        seen = _records(html) + seen
        prev = _link(html, "prev")
        url = history + prev if prev else None
    assert len(pages) == -(-(200 - selectors.LINK_PAGE_ROWS) // selectors.LINK_HISTORY_PAGE)
    # The link's own first event (直联服务建立) comes before the 200 added.
    assert seen + recent == every and "直联服务建立" in pages[-1]
    forward = _records(pages[-1])
    nxt = _link(pages[-1], "next")
    while nxt is not None:
        html = client.get(history + nxt).content.decode()
        forward += _records(html)
        nxt = _link(html, "next")
    assert forward == every


@pytest.mark.parametrize("side", ["staff", "portal"])
def test_the_link_page_shows_the_newest_requests_and_the_rest_page_by_page(
    client, world, link, side, monkeypatch
) -> None:
    monkeypatch.setattr(selectors, "LINK_PAGE_ROWS", 3)
    monkeypatch.setattr(selectors, "LINK_HISTORY_PAGE", 4)
    refs = _requests(world, link, 14)
    client.force_login(world.supervisor if side == "staff" else world.customer_x)
    page_name = "links:link_detail" if side == "staff" else "links:portal_link"
    requests = reverse(f"links:{'link' if side == 'staff' else 'portal_link'}_requests", args=[link.public_id])

    def shown(html: str) -> list[str]:
        return [r for r in re.findall(r">([A-Z0-9-]+)</a></td>", html) if r in refs]

    detail = client.get(reverse(page_name, args=[link.public_id])).content.decode()
    newest_first = refs[::-1]
    assert shown(detail) == newest_first[:3]
    url: str | None = _older(detail, requests)
    seen = shown(detail)
    pages = []
    while url is not None:
        html = client.get(url).content.decode()
        pages.append(html)
        assert 0 < len(shown(html)) <= 4
        seen += shown(html)
        prev = _link(html, "prev")
        url = requests + prev if prev else None
    assert seen == newest_first and len(pages) == 3
    back: list[str] = shown(pages[-1])
    nxt = _link(pages[-1], "next")
    while nxt is not None:
        html = client.get(requests + nxt).content.decode()
        back = shown(html) + back
        nxt = _link(html, "next")
    assert back == newest_first


def test_the_link_page_costs_the_same_queries_for_200_events_as_for_1(client, world, link) -> None:
    client.force_login(world.supervisor)
    url = reverse("links:link_detail", args=[link.public_id])
    counts = []
    for grow in (0, 200):
        _grow(link, grow)
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(url).content.decode()
        counts.append(len(ctx.captured_queries))
        assert len(_records(html)) == min(grow, selectors.LINK_PAGE_ROWS)
    assert counts[0] == counts[1], counts


def test_the_link_pages_are_in_scope_only_and_refuse_foreign_keys(client, world, link) -> None:
    other = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
    _grow(other, 2)
    foreign = other.events.order_by("-pk")[0].pk
    staff = [reverse(f"links:link_{w}", args=[link.public_id]) for w in ("history", "requests")]
    portal = [reverse(f"links:portal_link_{w}", args=[link.public_id]) for w in ("history", "requests")]
    client.force_login(world.supervisor_other)  # another branch
    assert [client.get(u).status_code for u in staff] == [404, 404]
    client.force_login(world.customer_y)  # another company
    assert [client.get(u).status_code for u in portal] == [404, 404]
    client.force_login(world.customer_x)
    assert [client.get(u).status_code for u in portal] == [200, 200]
    assert client.get(f"{portal[0]}?before={foreign}").status_code == 404
    assert client.get(f"{portal[1]}?after=x").status_code == 404
    assert all(client.get(u).status_code in (302, 403) for u in staff)
    client.force_login(world.supervisor)
    assert [client.get(u).status_code for u in staff] == [200, 200]
    assert client.get(f"{staff[0]}?after={foreign}").status_code == 404
    assert all(client.get(u).status_code == 403 for u in portal)


@pytest.mark.parametrize("listed", [True, False])
def test_an_open_request_is_not_offered_again_whether_the_page_lists_it_or_not(
    client, world, link, listed, monkeypatch
) -> None:
    """The page takes the open requests' kinds from its own rows when they are all there, else
    reads them: an open suspension older than the newest rows still withholds "suspend"."""
    from links.requests import suspension
    from onboarding import services as case_services

    monkeypatch.setattr(selectors, "LINK_PAGE_ROWS", 3)
    client.force_login(world.customer_x)
    page = reverse("links:portal_link", args=[link.public_id])
    suspend = reverse("links_requests:portal_link_request_new", args=[link.public_id, "suspension"])
    assert suspend in client.get(page).content.decode()
    case = case_services.case_create(user=world.maker, enterprise=link.enterprise, modules=[], case_type=ukey_loss.CODE)
    _requests(world, link, 0 if listed else 5)
    LinkRequest.objects.create(
        link=link,
        case=case,
        kind=suspension.SUSPENSION,
        channel="counter",
        opened_by=world.maker,
        opened_at=timezone.now() - dt.timedelta(days=30),
    )
    html = client.get(page).content.decode()
    assert (f">{case.reference}</a>" in html) is listed
    assert suspend not in html
