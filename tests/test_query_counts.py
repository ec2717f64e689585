"""Query counts of the pages people open all day do not grow with the data.

Each page is fetched with some data, then again after twice as much again has been added (new
cases in both branches, a further case walked through its stages, more notices for everyone):
the second fetch uses exactly as many queries as the first, and no page uses more than its
bound. The case page is fetched for a case with a short history and one with a long history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config import keyset
from notices.models import Notification
from onboarding import services
from onboarding.models import State
from tests.factories import enterprise

MAX_QUERIES = 15
# A case page also writes its read into the audit log (one INSERT: every read of a case is
# evidence, issue 25), and the staff case page reads the holder's absence (代 X 办理, issue 23),
# the case's one-to-ones apart from the case row (issue 26: a dozen joins took PostgreSQL
# longer to plan than two short reads take to run) and the live link of a live case or the
# request of a request case (issue 22); the test package form, only where it is shown (tech,
# at the stage), starts from the last package the bank issued (issue 25). Each one query,
# whatever the number of cases: 17 or 18 (issue 26: was 17 to 19). Whom the reader answers for
# among the counter entries is read with the entries, and the operators with their keys, whatever
# the case holds (issue 26: the same queries for a case with or without them).
CASE_PAGE_QUERIES = MAX_QUERIES + 3
# The portal's case page: read and shared as the staff page's (issue 26: 17 → 13, 14 with a live link).
PORTAL_CASE_PAGE_QUERIES = MAX_QUERIES - 1

_made = 0


def _add_data(world: Any, n: int) -> None:
    global _made
    for _ in range(n):
        for br, am in ((world.branch_a, world.am_a), (world.branch_b, world.am_b)):
            _made += 1
            ent = enterprise(br, name=f"批量公司{_made}")
            case = services.case_create(user=am, enterprise=ent, modules=["account_query"])
            services.case_transition(case=case, user=am, name="submit", reason="")
    # A walked case of another company (a customer's portal home lists its own few cases,
    # reading the actions of each: it grows with that company's cases, not with everyone's).
    world.case(State.JOINT_TESTING, company=enterprise(world.branch_a, name=f"批量公司{_made}x"))
    for actor in world.actors.values():
        Notification.objects.bulk_create([Notification(recipient=actor, text=f"提醒{k}") for k in range(3 * n)])


def _queries(client: Any, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [q["sql"] for q in ctx.captured_queries]


def _pages(world: Any, short: Any, long: Any) -> list[tuple[Any, str, int]]:
    today = timezone.localdate().isoformat()
    pages: list[tuple[Any, str, int]] = []
    for role, actor in world.actors.items():
        pages.append((actor, reverse("portal:home") if role == "enterprise_user" else reverse("home"), MAX_QUERIES))
    pages.append((world.customer_x, reverse("portal:case_detail", args=[long.public_id]), PORTAL_CASE_PAGE_QUERIES))
    lists = [
        "",
        "?page=2",
        "?q=批量",
        "?q=批量&page=2",
        f"?q={long.reference}",
        "?state=branch_intake",
        f"?branch={world.branch_a.pk}",
        f"?account_manager={world.am_a.pk}",
        "?overdue=on",
    ]
    for actor in (world.am_a, world.supervisor, world.approver):
        pages += [(actor, reverse("case_list") + q, MAX_QUERIES) for q in lists]
        pages.append((actor, reverse("notification_list"), MAX_QUERIES))
    # The case page for every staff reader, a short and a long history: the panels share their
    # reads (one query per table), so the count is the same for both and within the bound.
    readers = (world.am_a, world.supervisor, world.approver, world.tech, world.maker, world.checker, world.auditor)
    for actor in readers:
        pages += [(actor, reverse("case_detail", args=[c.public_id]), CASE_PAGE_QUERIES) for c in (short, long)]
    audit = [
        "",
        # Keyset pages: a key from an hour ago (older rows) and from a minute ago (newer ones).
        f"?after={keyset.micros(timezone.now() - dt.timedelta(hours=1))}-c1",
        f"?before={keyset.micros(timezone.now() - dt.timedelta(minutes=1))}-a1",
        f"?case={long.reference}",
        "?case=批量",
        "?person=am_a",
        f"?branch={world.tier1.pk}",
        f"?date_from={today}&date_to={(timezone.localdate() + dt.timedelta(days=1)).isoformat()}",
    ]
    pages += [(world.auditor, reverse("audit_log") + q, MAX_QUERIES) for q in audit]
    return pages


def test_page_queries_are_the_same_at_n_and_3n_cases(client, world, settings) -> None:
    settings.AUDIT_PAGE_SIZE = 5
    _add_data(world, 2)
    short = world.case(State.BRANCH_INTAKE)
    long = world.case(State.LIVE)
    pages = _pages(world, short, long)

    def measure() -> list[list[str]]:
        counts = []
        for actor, url, _bound in pages:
            client.force_login(actor)
            client.get(url)  # the first request after login renews the session (a write)
            counts.append(_queries(client, url))
        return counts

    few = measure()
    _add_data(world, 4)
    many = measure()
    for (_actor, url, bound), a, b in zip(pages, few, many, strict=True):
        assert len(b) == len(a), (url, len(a), len(b), b)
        assert len(b) <= bound, (url, len(b), b)


@pytest.mark.parametrize("unread", [3, 90])
def test_the_bell_and_the_notices_do_not_count_or_list_more_with_more_notices(client, world, unread) -> None:
    Notification.objects.bulk_create([Notification(recipient=world.am_a, text=f"提醒{k}") for k in range(unread)])
    client.force_login(world.am_a)
    client.get(reverse("notification_list"))
    assert len(_queries(client, reverse("notification_list"))) <= 10


@pytest.mark.parametrize(("unread", "read", "badge"), [(3, 2, "3"), (0, 4, ""), (150, 0, "99+"), (60, 60, "60")])
def test_the_bell_on_the_notices_page_counts_what_the_page_lists(client, world, unread, read, badge) -> None:
    """The notices page lists up to 100 notices: when that is all of them, the bell counts the
    unread among them (no COUNT query); beyond, it counts in the database as on every page."""
    now = timezone.now()
    Notification.objects.bulk_create(
        [Notification(recipient=world.am_a, text=f"未读{k}") for k in range(unread)]
        + [Notification(recipient=world.am_a, text=f"已读{k}", read_at=now) for k in range(read)]
    )
    Notification.objects.create(recipient=world.am_b, text="别人的")  # never counted for am_a
    client.force_login(world.am_a)
    client.get(reverse("notification_list"))
    queries = _queries(client, reverse("notification_list"))
    page = client.get(reverse("notification_list")).content.decode()
    bell = page[page.index('class="bell') :].split("</a>", 1)[0]
    if badge:
        assert f">{badge}</span>" in bell, bell
    else:
        assert "badge" not in bell, bell
    counted = [q for q in queries if "COUNT(" in q and "notices_notification" in q]
    assert len(counted) == (1 if unread + read >= 100 else 0), counted
    # Another page counts as before.
    assert (f">{badge}</span>" in client.get(reverse("home")).content.decode()) if badge else True


def test_the_portal_home_reads_as_much_for_one_case_as_for_many_of_the_company(client, world) -> None:
    """The action providers (documents to provide, test results to record) read their tables
    once for all the company's cards, not once per card; and only when a card is in a stage that
    lists them: a company whose cases are all live reads no test results or documents."""
    url = reverse("portal:home")
    client.force_login(world.customer_x)
    world.case(State.LIVE)
    client.get(url)
    live_only = _queries(client, url)

    def one_of_each() -> None:
        for state in (State.BRANCH_INTAKE, State.JOINT_TESTING, State.DRAFT, State.LIVE):
            world.case(state)
        world.case(State.BRANCH_INTAKE, documents=False)

    one_of_each()
    client.get(url)
    one = _queries(client, url)
    one_of_each()
    client.get(url)
    many = _queries(client, url)
    page = client.get(url).content.decode()
    # The cards really show the other cases' to-dos (the documents and the test results).
    assert page.count("登记联调测试结果") >= 2
    assert "签字盖章后上传" in page or "上传《" in page
    assert len(many) == len(one), (len(one), len(many), many)
    assert len(many) <= MAX_QUERIES
    # Test results, gateway observations, document versions and returns: four reads a live-only
    # company does not make.
    assert len(live_only) == len(one) - 4, (len(live_only), len(one), one)
    for table in ("moduletestresult", "gatewayobservation", "documentversion"):
        assert not any(table in q for q in live_only), table


def test_the_case_list_and_home_read_the_accounts_of_cases_without_a_version_once(client, world) -> None:
    """A case made before company versions existed shows its company as it is, accounts included
    (issue 26: one accounts query per row made a list page 61 queries): one query for the page."""
    from onboarding.models import OnboardingCase

    def unversioned(n: int) -> None:
        global _made
        for _ in range(n):
            _made += 1
            ent = enterprise(world.branch_a, name=f"旧公司{_made}")
            case = services.case_create(user=world.am_a, enterprise=ent, modules=["account_query"])
            OnboardingCase.objects.filter(pk=case.pk).update(company_version=None)

    client.force_login(world.am_a)
    counts = []
    for n in (2, 8):
        unversioned(n)
        for url in (reverse("case_list"), reverse("home")):
            client.get(url)
            counts.append(len(_queries(client, url)))
    page = client.get(reverse("case_list")).content.decode()
    assert page.count("旧公司") >= 10  # the rows really show those companies
    assert counts[:2] == counts[2:], counts
    assert max(counts) <= MAX_QUERIES
