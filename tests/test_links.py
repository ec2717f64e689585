"""The live link after go-live and its UKey loss request, from the users' side (issue 22).

- Going live creates the live link from the approved data: company version, accounts with
  rights, modules, production endpoint, certificate, operators with their UKeys and roles.
- Staff of the case's branch tree see its page; staff of another branch and another company's
  portal users get 404; the customer sees it on the portal.
- The customer reports a lost UKey on the portal: it is blocked at once, before anyone at the
  bank does anything; the counter replaces it with maker and checker (a self-check refused).
- Launch controls refuse with a reason in words: a second loss request, anything while a
  termination is open, anything on a closed link.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from branches.roles import Role
from casetypes import declaration
from counter.models import CounterEntry, UKey
from links import services
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import ukey_loss
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.services import CaseError
from onboarding.states import State
from tests.factories import enterprise, user
from tests.html_forms import browser_post_data, form_with


@pytest.fixture
def live(world):
    case = world.case(State.LIVE)
    return case, LiveLink.objects.get(onboarding_case=case)


def _page(client, user, url):
    client.force_login(user)
    return client.get(url)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def test_going_live_creates_the_live_link_from_the_approved_data(world, live):
    case, link = live
    assert link.enterprise == case.enterprise and link.branch == case.branch
    assert link.company_version_id == case.company_version_id
    assert link.modules == case.modules
    assert link.production_endpoint == "https://h2h.bank.example" and link.certificate_serial == "PROD-1"
    assert link.status == LinkStatus.ACTIVE and not link.legal_hold
    keys = list(UKey.objects.filter(case=case).order_by("expires_on"))
    assert link.certificate_expires_on == keys[0].expires_on
    accounts = list(link.current_accounts())
    assert [a.account_number for a in accounts] == [case.production_config.account_list[0]]
    assert accounts[0].can_query and not accounts[0].can_pay  # no payment module requested
    operators = {o.name: o for o in link.current_operators()}
    assert set(operators) == {"操作员甲", "操作员乙"}
    assert {o.role for o in operators.values()} == {"entry", "review"}
    assert all(o.ukey is not None and o.ukey_serial == o.ukey.serial for o in operators.values())
    created = link.events.get()
    assert created.name == LinkEvent.Name.CREATED and created.actor == world.am_a
    assert created.data["company_version"] == case.company_version.number


def test_the_link_page_is_in_scope_for_staff_and_own_company_on_the_portal(world, live, client):
    case, link = live
    page = _page(client, world.supervisor, f"/links/{link.public_id}/")
    body = page.content.decode()
    assert page.status_code == 200 and link.reference in body and "操作员甲" in body and "直联服务建立" in body
    # The case page links to it; the case list's neighbour lists it.
    assert f"/links/{link.public_id}/" in client.get(f"/cases/{case.public_id}/").content.decode()
    listed = client.get("/links/").content.decode()
    assert link.reference in listed and 'href="/links/"' in listed  # nav link beside the case list
    assert _page(client, world.supervisor_other, f"/links/{link.public_id}/").status_code == 404
    assert link.reference not in client.get("/links/").content.decode()
    # The portal: the company's own users, never another company's.
    page = _page(client, world.customer_x, f"/portal/links/{link.public_id}/")
    assert page.status_code == 200 and link.reference in page.content.decode()
    assert link.reference in client.get("/portal/links/").content.decode()
    assert _page(client, world.customer_y, f"/portal/links/{link.public_id}/").status_code == 404
    assert link.reference not in client.get("/portal/links/").content.decode()
    # Customers never reach the staff page, staff never the portal's.
    assert _page(client, world.customer_x, f"/links/{link.public_id}/").status_code in (302, 403)
    assert _page(client, world.supervisor, f"/portal/links/{link.public_id}/").status_code == 403


def test_the_list_filters_by_branch_status_expiring_certificate_and_dormancy(world, live, client):
    _, link = live
    # A second live link (the test builders walk branch A's cases), then kept by branch B.
    company_z = enterprise(world.branch_a, name="丙公司")
    user("customer_z", Role.ENTERPRISE_USER, enterprise=company_z)
    other_link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE, company=company_z))
    LiveLink.objects.filter(pk=other_link.pk).update(branch=world.branch_b)
    client.force_login(world.approver)  # head office: both branches
    both = client.get("/links/").content.decode()
    assert link.reference in both and other_link.reference in both
    only_a = client.get("/links/", {"branch": world.branch_a.pk}).content.decode()
    assert link.reference in only_a and other_link.reference not in only_a
    services.link_status_set(link=other_link, status=LinkStatus.SUSPENDED, actor=world.approver, reason="客户申请")
    suspended = client.get("/links/", {"status": "suspended"}).content.decode()
    assert other_link.reference in suspended and link.reference not in suspended
    days_left = (link.certificate_expires_on - timezone.localdate()).days
    assert link.reference in client.get("/links/", {"expiring": days_left}).content.decode()
    assert link.reference not in client.get("/links/", {"expiring": days_left - 1}).content.decode()
    assert link.reference not in client.get("/links/", {"dormant": "on"}).content.decode()
    # Nothing has happened on it for over a year (the last activity is its latest event's time).
    LiveLink.objects.filter(pk=link.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=400))
    dormant = client.get("/links/", {"dormant": "on"}).content.decode()
    assert link.reference in dormant


def test_a_customer_reports_a_loss_on_the_portal_and_it_is_blocked_at_once(world, live, client):
    case, link = live
    key = link.current_operators().get(name="操作员甲").ukey
    client.force_login(world.customer_x)
    page = client.get(f"/portal/links/{link.public_id}/").content.decode()
    form = form_with(page, "ukey")
    data = browser_post_data(form)
    assert data["ukey"] == [str(key.pk)] or str(key.pk) in page
    data["ukey"], data["reason"] = [str(key.pk)], ["K宝遗失"]
    before = timezone.now()
    response = client.post(form.action, data, follow=True)
    assert "挂失已生效" in _messages(response)
    # Blocked now, before any staff member has looked at anything.
    key.refresh_from_db()
    assert key.status == UKey.Status.LOST
    lost = CaseEvent.objects.get(case=case, name="ukey_lost")
    assert lost.actor == world.customer_x and lost.created_at >= before
    request = LinkRequest.objects.get(link=link)
    assert request.is_open and request.channel == "portal" and request.opened_by == world.customer_x
    assert request.case.state == ukey_loss.REPORTED and request.case.case_type == ukey_loss.CODE
    assert request.case.current_visit.holder_role == "counter_maker"
    event = link.events.get(name=LinkEvent.Name.UKEY_LOST)
    assert event.actor == world.customer_x and event.channel == "portal" and event.data["ukey"] == key.serial
    # The portal page shows the key lost and the request; the request case is the customer's.
    page = client.get(f"/portal/links/{link.public_id}/").content.decode()
    assert "已挂失" in page and request.case.reference in page
    # The open loss request, as the page lists it, is why no second one can be filed now.
    assert "已有一笔办理中的" in page and 'id="ukey-loss-form"' not in page
    assert client.get(f"/portal/cases/{request.case.public_id}/").status_code == 200
    client.force_login(world.customer_y)
    assert client.get(f"/portal/cases/{request.case.public_id}/").status_code == 404


def test_the_counter_replaces_the_key_with_maker_and_checker(world, live, client):
    _, link = live
    key = link.current_operators().get(name="操作员甲").ukey
    request = services.ukey_loss_report(link=link, ukey=key, user=world.customer_x, reason="遗失")
    # A counter clerk holding both counter roles sees the request on its case page and enters the new key.
    clerk = user("clerk", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    client.force_login(clerk)
    page = client.get(f"/cases/{request.case.public_id}/").content.decode()
    assert "录入补办的新UKey" in page and key.serial in page
    form = form_with(page, "serial")
    data = browser_post_data(form)
    data["serial"], data["expires_on"] = ["KB-NEW-1"], [(timezone.localdate() + dt.timedelta(days=700)).isoformat()]
    response = client.post(form.action, data, follow=True)
    assert "等待柜面复核" in _messages(response)
    request.case.refresh_from_db()
    assert OnboardingCase.objects.get(pk=request.case_id).state == ukey_loss.CHECKING
    entry = CounterEntry.objects.get(replaces=key)
    assert entry.maker == clerk and entry.is_pending
    # Nobody checks their own entry; a maker without the checker's role checks nothing.
    response = client.post(f"/links/requests/{request.case.public_id}/confirm/", follow=True)
    assert "不能复核自己录入的事项" in _messages(response)
    with pytest.raises(CaseError, match="此操作仅限:柜面复核"):
        services.ukey_replacement_confirm(request=request, user=world.maker)
    assert CounterEntry.objects.get(pk=entry.pk).is_pending
    # The checker confirms: the new key is in use, the old one replaced, the request done.
    client.force_login(world.checker)
    page = client.get(f"/cases/{request.case.public_id}/").content.decode()
    assert "复核通过,新UKey生效" in page
    response = client.post(f"/links/requests/{request.case.public_id}/confirm/", follow=True)
    assert "新UKey已生效" in _messages(response)
    key.refresh_from_db()
    new = UKey.objects.get(serial="KB-NEW-1")
    assert key.status == UKey.Status.REPLACED and new.replaces == key
    assert new.expires_on == timezone.localdate() + dt.timedelta(days=700)
    request.refresh_from_db()
    assert not request.is_open and request.closed_at is not None
    assert OnboardingCase.objects.get(pk=request.case_id).state == ukey_loss.DONE
    # The operator's row moved to the new key; the old row is kept, ended.
    rows = list(link.operators.filter(name="操作员甲").order_by("started_at", "pk"))
    assert [r.ukey_serial for r in rows] == [key.serial, "KB-NEW-1"]
    assert rows[0].ended_at is not None and rows[1].ended_at is None
    names = list(link.events.values_list("name", flat=True))
    assert names[-4:] == ["ukey_lost", "ukey_replacement_made", "ukey_replaced", "request_closed"]


def test_a_counter_maker_reports_a_loss_and_releases_it_when_found(world, live, client):
    _, link = live
    key = link.current_operators().get(name="操作员乙").ukey
    client.force_login(world.maker)
    page = client.get(f"/links/{link.public_id}/").content.decode()
    form = form_with(page, "ukey")
    data = browser_post_data(form)
    data["ukey"] = [str(key.pk)]
    client.post(form.action, data)
    key.refresh_from_db()
    assert key.status == UKey.Status.LOST
    request = LinkRequest.objects.get(link=link)
    assert request.channel == "counter"
    services.ukey_loss_release(request=request, user=world.maker, reason="客户找回")
    key.refresh_from_db()
    request.refresh_from_db()
    assert key.status == UKey.Status.ACTIVATED and not request.is_open


def _termination(world, link) -> LinkRequest:
    """An open termination request on `link` (the termination type is built on this model elsewhere)."""
    from onboarding import services as case_services

    case = case_services.case_create(user=world.maker, enterprise=link.enterprise, modules=[], case_type=ukey_loss.CODE)
    return LinkRequest.objects.create(
        link=link, case=case, kind=LinkRequest.TERMINATION, channel="counter", opened_by=world.maker
    )


def test_launch_controls_refuse_with_the_reason(world, live, client):
    _, link = live
    keys = [o.ukey for o in link.current_operators().order_by("pk")]
    services.ukey_loss_report(link=link, ukey=keys[0], user=world.customer_x)
    # A second loss request while one is open: refused on the page, the second key untouched.
    client.force_login(world.customer_x)
    page = client.get(f"/portal/links/{link.public_id}/").content.decode()
    assert "已有一笔办理中的“UKey挂失补办”申请" in page
    response = client.post(
        f"/portal/links/{link.public_id}/ukey-loss/", {"ukey": keys[1].pk, "reason": "x"}, follow=True
    )
    assert "已有一笔办理中的“UKey挂失补办”申请" in _messages(response)
    keys[1].refresh_from_db()
    assert keys[1].status == UKey.Status.ACTIVATED
    assert LinkRequest.objects.filter(link=link).count() == 1


def test_nothing_new_while_a_termination_is_open_nor_on_a_closed_link(world, live):
    _, link = live
    key = link.current_operators().first().ukey
    # A termination under way (its request type is another module's; the control is here).
    placeholder = _termination(world, link)
    with pytest.raises(services.LaunchRefused, match="正在办理注销"):
        services.ukey_loss_report(link=link, ukey=key, user=world.customer_x)
    key.refresh_from_db()
    assert key.status == UKey.Status.ACTIVATED  # nothing left behind
    LinkRequest.objects.filter(pk=placeholder.pk).update(is_open=False, closed_at=timezone.now())
    services.link_status_set(link=link, status=LinkStatus.CLOSED, actor=world.supervisor, reason="注销")
    link.refresh_from_db()
    with pytest.raises(services.LaunchRefused, match="已注销"):
        services.ukey_loss_report(link=link, ukey=key, user=world.customer_x)


def test_the_request_type_is_declared_and_its_stages_are_in_the_registry(world):
    declared = declaration.case_type(ukey_loss.CODE)
    assert [s.code for s in declared.stages] == [ukey_loss.REPORTED, ukey_loss.CHECKING]
    assert declared.stage(ukey_loss.REPORTED).holder == "counter_maker"
    assert declared.stage(ukey_loss.CHECKING).sla_days == 1


def test_the_api_shows_the_link_read_only_and_scoped_like_cases(world, live):
    from tests.api_helpers import bank_api, enterprise_api

    case, link = live
    key = link.current_operators().first().ukey
    services.ukey_loss_report(link=link, ukey=key, user=world.customer_x, reason="遗失")
    mine = enterprise_api(world.company_x)
    listed = mine.get("/api/v1/links/").json()
    assert [row["reference"] for row in listed["results"]] == [link.reference]
    detail = mine.get(f"/api/v1/links/{link.public_id}/").json()
    assert detail["status"] == "active" and detail["onboarding_case_id"] == str(case.public_id)
    assert {o["ukey_status"] for o in detail["operators"]} == {"lost", "activated"}
    assert [r["kind"] for r in detail["requests"]] == [ukey_loss.CODE]
    events = mine.get(f"/api/v1/links/{link.public_id}/events/").json()["results"]
    assert [e["name"] for e in events] == ["link_created", "request_opened", "ukey_lost"]
    assert mine.post(f"/api/v1/links/{link.public_id}/", {}).status_code == 405  # read-only
    other = enterprise_api(world.company_y)
    assert other.get("/api/v1/links/").json()["results"] == []
    assert other.get(f"/api/v1/links/{link.public_id}/").status_code == 404
    assert bank_api(world.branch_b, Role.ACCOUNT_MANAGER).get(f"/api/v1/links/{link.public_id}/").status_code == 404
    assert bank_api(world.branch_a, Role.ACCOUNT_MANAGER).get(f"/api/v1/links/{link.public_id}/").status_code == 200


# --- in the database (PostgreSQL): the launch controls and the history hold without the services ---


def _refused(make) -> str:
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            make()
    except DatabaseError as exc:
        return str(exc)
    return ""


def _sql(statement: str, *params: object) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.mark.postgres
def test_the_database_enforces_the_launch_controls(world, live):
    _, link = live
    keys = [o.ukey for o in link.current_operators().order_by("pk")]
    request = services.ukey_loss_report(link=link, ukey=keys[0], user=world.customer_x)
    from onboarding import services as case_services

    def another(kind: str = ukey_loss.CODE):
        other = case_services.case_create(
            user=world.maker, enterprise=link.enterprise, modules=[], case_type=ukey_loss.CODE
        )
        return lambda: LinkRequest.objects.create(
            link=link, case=other, kind=kind, channel="counter", opened_by=world.maker, ukey=keys[1]
        )

    # One open request per link and type: the partial unique index.
    assert "one_open_request_per_link_and_kind" in _refused(another())
    # Closed once, then final; nothing else of a request ever changes.
    assert "pgtrigger" in _refused(lambda: LinkRequest.objects.filter(pk=request.pk).update(kind="other"))
    LinkRequest.objects.filter(pk=request.pk).update(is_open=False, closed_at=timezone.now())
    assert "pgtrigger" in _refused(lambda: LinkRequest.objects.filter(pk=request.pk).update(is_open=True))
    assert "pgtrigger" in _refused(lambda: _sql("DELETE FROM links_linkrequest WHERE id = %s", request.pk))
    # Nothing new while a termination is open.
    termination = _termination(world, link)
    assert "while a termination is open" in _refused(another())
    LinkRequest.objects.filter(pk=termination.pk).update(is_open=False, closed_at=timezone.now())
    # Nothing on a closed link.
    LiveLink.objects.filter(pk=link.pk).update(status=LinkStatus.CLOSED)
    assert "on a closed link" in _refused(another())


@pytest.mark.postgres
def test_the_links_rows_are_versions_ended_once_and_never_rewritten(world, live):
    _, link = live
    row = link.current_operators().order_by("pk").first()
    account = link.current_accounts().first()
    event = link.events.first()
    for model, pk, column in ((type(row), row.pk, "ukey_serial"), (type(account), account.pk, "account_number")):
        rows = model.objects.filter(pk=pk)
        assert "pgtrigger" in _refused(lambda rows=rows, column=column: rows.update(**{column: "X"}))
        table = model._meta.db_table
        assert "pgtrigger" in _refused(lambda table=table, pk=pk: _sql(f"DELETE FROM {table} WHERE id = %s", pk))
        rows.update(ended_at=timezone.now(), ended_event=event)  # the one change
        assert "pgtrigger" in _refused(lambda rows=rows: rows.update(ended_at=None))
    assert "pgtrigger" in _refused(lambda: LinkEvent.objects.filter(pk=event.pk).update(reason="x"))


def test_the_link_pages_read_in_english_and_chinese_only_in_chinese(world, live, client):
    from django.conf import settings

    from tests.test_i18n import chinese_labels, english_halves

    _, link = live
    key = link.current_operators().first().ukey
    request = services.ukey_loss_report(link=link, ukey=key, user=world.customer_x)
    pages = [
        (world.maker, f"/links/{link.public_id}/"),
        (world.maker, "/links/"),
        (world.maker, f"/cases/{request.case.public_id}/"),
        (world.customer_x, f"/portal/links/{link.public_id}/"),
        (world.customer_x, "/portal/links/"),
        (world.customer_x, f"/portal/cases/{request.case.public_id}/"),
    ]
    for who, url in pages:
        client.force_login(who)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
        chinese = client.get(url).content.decode()
        assert english_halves(chinese) == [], url
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        english = client.get(url).content.decode()
        assert chinese_labels(english) == [], url
        assert "Direct link service" in english, url


def test_a_change_of_accounts_ends_the_old_rows_and_keeps_them(world, live):
    _, link = live
    old = link.current_accounts().get()
    event = services.link_event(link=link, name=LinkEvent.Name.ACCOUNTS_CHANGED, actor=world.am_a)
    wanted = [
        {"account_number": old.account_number, "account_name": old.account_name, "can_query": True, "can_pay": True},
        {"account_number": "6222999900001111", "account_name": "甲公司", "can_query": True, "can_pay": False},
    ]
    services.link_accounts_replace(link=link, accounts=wanted, event=event)
    current = {a.account_number: a for a in link.current_accounts()}
    assert set(current) == {old.account_number, "6222999900001111"}
    assert current[old.account_number].can_pay and current[old.account_number].started_event == event
    old.refresh_from_db()
    assert old.ended_event == event and not old.can_pay  # the earlier rights, as they were
    # The same set again changes nothing.
    services.link_accounts_replace(link=link, accounts=wanted, event=event)
    assert link.accounts.count() == 3


def test_the_counter_finds_the_loss_in_its_queue_and_the_checker_after_the_maker(world, live, client):
    _, link = live
    key = link.current_operators().first().ukey
    request = services.ukey_loss_report(link=link, ukey=key, user=world.customer_x)
    client.force_login(world.maker)
    home = client.get("/").content.decode()
    assert request.case.reference in home and "录入补办的新UKey(或解除挂失)" in home
    client.force_login(world.checker)
    assert "复核补办的新UKey" not in client.get("/").content.decode()
    services.ukey_replacement_make(request=request, user=world.maker, serial="KB-Q-1")
    home = client.get("/").content.decode()
    assert request.case.reference in home and "复核补办的新UKey" in home


def test_the_portal_pages_name_the_company_in_the_frame_from_their_own_read(world, live, client):
    """The frame shows the reader's company (· 甲公司); the home and the live-link pages have read
    that company's row with their cases or links, so the frame reads it from there, not again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _case, link = live
    client.force_login(world.customer_x)
    for url in ("/portal/", "/portal/links/", f"/portal/links/{link.public_id}/"):
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            body = client.get(url).content.decode()
        who = body[body.index('<span class="who">') :].split("</span>", 1)[0]
        assert world.company_x.name in who, (url, who)
        alone = [q["sql"] for q in ctx.captured_queries if 'FROM "onboarding_enterprise"' in q["sql"]]
        assert alone == [], (url, alone)
