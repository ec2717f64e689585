"""No reader ever sees a stale page: every page is computed for its request (there is no page
cache; README, "The page cache"). These hold trivially now and guard against one coming back
unnoticed: a write committed by someone else shows at the reader's next request, a notice rings
the bell at once, each reader and each browser get their own page.

Transactional database: the writes commit, as requests in production do.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from notices.services import notices_create
from onboarding import services
from onboarding.states import State

pytestmark = pytest.mark.django_db(transaction=True)


def _page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def test_a_colleagues_write_and_a_notice_show_at_the_next_request(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_a)
    url = reverse("case_list")
    first = _page(client, url)
    assert _page(client, url).split("<main", 1)[1] == first.split("<main", 1)[1]
    assert "has-unread" not in first
    services.case_transition(case=case, user=world.am_a2, name="suspend", reason="客户要求暂停")
    after = _page(client, url).split("<tbody", 1)[1]
    assert str(State.SUSPENDED.label) in after and str(State.SUSPENDED.label) not in first.split("<tbody", 1)[1]
    notices_create(recipients=[world.am_a], case_id=None, kind="info", text="请处理")
    assert "has-unread" in _page(client, url)


def test_each_reader_and_each_browser_get_their_own_page(world) -> None:
    world.case(State.BRANCH_INTAKE)
    mine, theirs = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    second = Client(enforce_csrf_checks=True)
    for browser, user in ((mine, world.am_a), (theirs, world.am_b), (second, world.am_a)):
        browser.force_login(user)
    url = reverse("case_list")
    pages = {browser: _page(browser, url) for browser in (mine, second, theirs)}
    assert world.company_x.name in pages[mine] and world.company_x.name not in pages[theirs]
    for browser in (mine, second):  # each logs out with the token of its own page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', pages[browser])
        assert token and browser.post(reverse("logout"), {"csrfmiddlewaretoken": token.group(1)}).status_code == 302
