"""The navigation every page draws is kept per kind of reader (branches/templatetags/frame.py):
whoever asked before, each reader sees the navigation of their own roles, branch or company and
language, the same as if it were drawn for them alone."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from branches.roles import Role
from branches.templatetags import frame


def _nav(client: Client, url: str = "/reminders/") -> str:
    html = client.get(url).content.decode()
    return html[html.index("<nav>") : html.index("</nav>")]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_each_reader_sees_the_navigation_drawn_for_them_alone(world, login, language) -> None:
    readers = list(world.actors.items())
    clients = {}
    for who, user in readers:
        clients[who] = login(Client(), user)
        clients[who].cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = {who: "/portal/" if who == "enterprise_user" else "/reminders/" for who, _user in readers}
    alone = {}
    for who, _user in readers:
        frame._rendered.clear()
        alone[who] = _nav(clients[who], page[who])
    for who, _user in reversed(readers):  # every other kind of reader drawn before
        assert _nav(clients[who], page[who]) == alone[who], who
    home = "My work" if language == "en" else "我的待办"
    assert home in alone["account_manager"] and 'href="/cases/new/"' in alone["account_manager"]
    assert 'href="/audit/"' not in alone["account_manager"] and 'href="/audit/"' in alone["auditor"]
    assert 'href="/analytics/"' in alone["branch_supervisor"] and 'href="/analytics/"' not in alone["counter_maker"]
    assert 'href="/portal/team/"' in alone["enterprise_user"] and 'href="/cases/"' not in alone["enterprise_user"]


@pytest.mark.django_db(transaction=True)
def test_a_role_taken_away_leaves_the_navigation_at_the_next_page(world, login) -> None:
    client = login(Client(), world.auditor)
    assert 'href="/audit/"' in _nav(client)
    world.auditor.groups.remove(Group.objects.get(name=Role.AUDITOR))
    assert 'href="/audit/"' not in _nav(client)


@pytest.mark.django_db
def test_a_customer_reads_the_notices_and_their_settings_in_the_portal_frame(world, login) -> None:
    """A company's user opening the bell (通知) or its e-mail settings sees the portal's navigation
    (its applications, live links, team), never the staff workspace's; staff still see theirs."""
    from notices.models import Notification

    Notification.objects.create(recipient=world.customer_x, text="贵司的申请已受理")
    customer = login(Client(), world.customer_x)
    for url in ("/reminders/", "/notices/email/"):
        nav = _nav(customer, url)
        assert 'href="/portal/"' in nav and 'href="/portal/team/"' in nav, url
        assert 'href="/cases/"' not in nav and "我的待办" not in nav, url
    assert "贵司的申请已受理" in customer.get("/reminders/").content.decode()
    staff = _nav(login(Client(), world.am_a), "/reminders/")
    assert 'href="/cases/"' in staff and 'href="/portal/team/"' not in staff
