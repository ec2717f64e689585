"""The bell, the notice list, the case page's service-level panel and the bank/customer split."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from notices.models import Notification
from onboarding import services as core
from onboarding.states import State
from reminders.selectors import case_time_split

SH = ZoneInfo("Asia/Shanghai")


def notify(user, n: int, case=None) -> None:
    Notification.objects.bulk_create(Notification(recipient=user, case=case, text=f"通知{i}") for i in range(n))


def test_the_bell_shows_the_unread_count_with_one_query_however_many(world, client) -> None:
    client.force_login(world.am_a)

    def home_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(reverse("home"))
        assert page.status_code == 200
        return len(ctx.captured_queries)

    client.get(reverse("home"))  # the first request after login renews the session (a write)
    none = home_queries()
    assert 'class="bell"' in client.get(reverse("home")).content.decode()
    notify(world.am_a, 2)
    two = home_queries()
    notify(world.am_a, 30)
    assert home_queries() == two == none
    page = client.get(reverse("home")).content.decode()
    assert '<span class="badge danger" aria-label="未读">32</span>' in page


def test_the_bell_counts_up_to_99_then_says_99_plus(world, client) -> None:
    client.force_login(world.am_a)
    notify(world.am_a, 99)
    notify(world.am_b, 150)  # someone else's notices count for nobody else
    page = client.get(reverse("home")).content.decode()
    assert '<span class="badge danger" aria-label="未读">99</span>' in page
    notify(world.am_a, 1)
    page = client.get(reverse("home")).content.decode()
    assert '<span class="badge danger" aria-label="未读">99+</span>' in page
    Notification.objects.filter(recipient=world.am_a).update(read_at=timezone.now())
    assert 'class="badge danger"' not in client.get(reverse("home")).content.decode()


def test_marking_read_only_touches_the_users_own_notices(world, client) -> None:
    notify(world.am_a, 2)
    notify(world.am_b, 1)
    mine = list(Notification.objects.filter(recipient=world.am_a))
    theirs = Notification.objects.get(recipient=world.am_b)
    client.force_login(world.am_a)
    listing = client.get(reverse("notification_list")).content.decode()
    assert "通知0" in listing and "通知1" in listing
    assert client.get(reverse("notification_mark_read")).status_code == 405  # POST only

    client.post(reverse("notification_mark_read"), {"id": [mine[0].pk, theirs.pk]})
    assert Notification.objects.filter(recipient=world.am_a, read_at__isnull=True).count() == 1
    assert Notification.objects.get(pk=theirs.pk).read_at is None  # someone else's: untouched
    client.post(reverse("notification_mark_read"))
    assert not Notification.objects.filter(recipient=world.am_a, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_the_notice_list_needs_a_login(client) -> None:
    assert client.get(reverse("notification_list")).status_code == 302


@pytest.mark.django_db
def test_time_is_split_between_bank_and_customer_without_suspended_time(world) -> None:
    with freeze_time(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)):  # Monday
        case = world.case(State.BRANCH_INTAKE)
    with freeze_time(dt.datetime(2026, 6, 3, 10, 0, tzinfo=SH)):  # 2 working days at the bank
        case = core.case_transition(case=case, user=world.am_a, name="suspend", reason="暂停")
    with freeze_time(dt.datetime(2026, 6, 10, 10, 0, tzinfo=SH)):  # 5 suspended working days: not counted
        case = core.case_transition(case=case, user=world.am_a, name="resume")
    now = dt.datetime(2026, 6, 11, 22, 0, tzinfo=SH)  # 1.5 more working days at the bank
    split = case_time_split(case=case, now=now)
    assert (split.bank_days, split.customer_days) == (3.5, 0.0)


@pytest.mark.django_db
def test_time_in_joint_testing_is_the_customers(world) -> None:
    with freeze_time(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)):
        case = world.case(State.JOINT_TESTING)
    split = case_time_split(case=case, now=dt.datetime(2026, 6, 4, 10, 0, tzinfo=SH))
    assert (split.bank_days, split.customer_days) == (0.0, 3.0)


@pytest.mark.django_db
def test_a_link_requests_first_stage_is_the_banks_time_not_a_draft(world) -> None:
    """An operator change starts in the account manager's review (timed): its days are the bank's."""
    from links import changes
    from links.models import LiveLink

    with freeze_time(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)):  # Monday
        link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
        row = link.current_operators().first()
        request = changes.operator_change_open(
            link=link, user=world.customer_x, action="role", operator_id=row.operator_id, role="review"
        )
    split = case_time_split(case=request.case, now=dt.datetime(2026, 6, 3, 10, 0, tzinfo=SH))
    assert (split.bank_days, split.customer_days) == (2.0, 0.0)


def test_the_case_page_shows_the_split_and_how_late_the_stage_is(world, client) -> None:
    with freeze_time(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)):
        case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_a)
    with freeze_time(dt.datetime(2026, 6, 9, 22, 0, tzinfo=SH)):  # due 8 June 10:00
        page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "已超时 1.5 个工作日" in page
    assert '<dd class="wait-bank">6.5' in page and '<dd class="wait-customer">0.0' in page
    with freeze_time(dt.datetime(2026, 6, 5, 10, 0, tzinfo=SH)):
        page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "已超时" not in page
