"""The daily digest across the 2026 National Day holiday: working days only, from 08:30, never at night, once a day."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from freezegun import freeze_time

from analytics.models import CaseForecast
from notices.models import OutboxEmail
from onboarding.states import State
from tests.test_wecom import WeCom, robot
from wecom import digest
from wecom.models import DigestPreference, DigestRun, WeComMessage

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


@pytest.fixture
def three_cases(world):
    """Branch intake (5 working days, the account manager's court); 25 September is Mid-Autumn, 1–7 October National Day."""
    with freeze_time(at(2026, 9, 21, 10, 0)):
        overdue = world.case(State.BRANCH_INTAKE)  # due Tue 29 Sep 10:00
    with freeze_time(at(2026, 9, 22, 10, 0)):
        today = world.case(State.BRANCH_INTAKE)  # due Wed 30 Sep 10:00
    with freeze_time(at(2026, 9, 23, 10, 0)):
        after_holiday = world.case(State.BRANCH_INTAKE)  # due Thu 8 Oct 10:00, the next working day after 30 Sep
    CaseForecast.objects.create(case=today, stage=State.BRANCH_INTAKE, target_late=True)
    return overdue, today, after_holiday


def run(when: dt.datetime, capture) -> int:
    with freeze_time(when), capture(execute=True):
        return digest.digests_send()


def digests_of(user) -> list[OutboxEmail]:
    return list(OutboxEmail.objects.filter(kind="digest", key__startswith=f"digest:{user.pk}:").order_by("key"))


def section(body: str, heading: str) -> str:
    found = re.search(rf"【{re.escape(heading)}】\n(.*?)(?:\n\n|$)", body, re.S)
    return found.group(1) if found else ""


def test_digests_across_the_national_day_holiday(world, three_cases, django_capture_on_commit_callbacks):
    overdue, today, after_holiday = three_cases
    capture = django_capture_on_commit_callbacks
    mail.outbox.clear()
    assert run(at(2026, 9, 30, 8, 29), capture) == 0  # before 08:30
    assert run(at(2026, 9, 30, 8, 31), capture) == 1  # the working day before the holiday
    assert run(at(2026, 9, 30, 8, 36), capture) == 0  # again the same day: once
    assert run(at(2026, 9, 30, 15, 0), capture) == 0
    [row] = digests_of(world.am_a)
    assert row.sent_at is not None and row.to == [world.am_a.email]
    [sent] = [m for m in mail.outbox if m.to == [world.am_a.email]]
    assert "每日摘要 2026-09-30" in sent.subject
    body = sent.body
    assert overdue.reference in section(body, "已超时") and today.reference not in section(body, "已超时")
    assert today.reference in section(body, "今日到期")
    # "Tomorrow" is the next working day: 8 October, after the holiday.
    assert after_holiday.reference in section(body, "下一工作日(10-08)到期")
    assert today.reference in section(body, "有延期风险") and overdue.reference not in section(body, "有延期风险")
    assert f"/cases/{overdue.public_id}/" in body

    for holiday in (at(2026, 10, 1, 9, 0), at(2026, 10, 5, 9, 0), at(2026, 10, 7, 9, 0), at(2026, 10, 11, 9, 0)):
        assert run(holiday, capture) == 0  # National Day, and an ordinary Sunday
    assert run(at(2026, 10, 9, 22, 0), capture) == 0  # a working day, at night
    assert run(at(2026, 10, 9, 6, 0), capture) == 0  # a working day, before dawn
    assert run(at(2026, 10, 9, 18, 0), capture) == 0  # the window closes at 18:00
    assert run(at(2026, 10, 10, 9, 0), capture) == 1  # Saturday 10 October: an adjusted working day
    assert [r.key.rsplit(":", 1)[1] for r in digests_of(world.am_a)] == ["2026-09-30", "2026-10-10"]
    assert not DigestRun.objects.filter(date__in=[dt.date(2026, 10, d) for d in range(1, 10)]).exists()


def test_people_with_nothing_in_their_court_get_no_digest(world, three_cases, django_capture_on_commit_callbacks):
    run(at(2026, 9, 30, 9, 0), django_capture_on_commit_callbacks)
    assert digests_of(world.am_b) == []  # branch B: nothing in their court
    assert DigestRun.objects.get(user=world.am_b, date=dt.date(2026, 9, 30)).empty
    assert digests_of(world.customer_x) == []  # customers get none
    assert DigestRun.objects.filter(empty=False).count() == 1  # only am_a


def test_wecom_digest_per_choice_and_the_preferences_page(
    client, world, three_cases, django_capture_on_commit_callbacks
):
    wecom = WeCom([])
    try:
        bot = robot(world.branch_a, wecom)
        WeComMessage.objects.all().delete()  # hand-offs of the cases' history
        client.force_login(world.am_a)
        page = client.get(reverse("digest_preferences")).content.decode()
        assert 'name="digest" value="email" checked' in page and 'value="wecom" checked' not in page
        assert str(bot) in page  # the group it would go to is named
        response = client.post(reverse("digest_preferences"), {"digest": ["wecom"]})
        assert response.status_code == 302
        page = client.get(reverse("digest_preferences")).content.decode()
        assert 'value="wecom" checked' in page and 'value="email" checked' not in page
        assert run(at(2026, 9, 30, 9, 0), django_capture_on_commit_callbacks) == 1
        assert digests_of(world.am_a) == []  # WeCom only, as chosen
        [content] = wecom.accepted
        assert f"{world.am_a} 的每日摘要(2026-09-30)" in content
        assert f"/cases/{three_cases[0].public_id}/" in content
        # Both off: nothing, and no claim row either.
        client.post(reverse("digest_preferences"), {})
        assert DigestPreference.objects.get(user=world.am_a).email is False
        assert run(at(2026, 10, 8, 9, 0), django_capture_on_commit_callbacks) == 0
        assert not DigestRun.objects.filter(user=world.am_a, date=dt.date(2026, 10, 8)).exists()
    finally:
        wecom.stop()


def test_the_digest_page_is_for_staff_only(client, world):
    client.force_login(world.customer_x)
    response = client.get(reverse("digest_preferences"))  # a staff page: the customer is sent to the portal
    assert response.status_code == 302 and response["Location"] == reverse("portal:start")
    assert client.post(reverse("digest_preferences"), {"digest": ["wecom"]}).status_code == 403
    assert not DigestPreference.objects.exists()
    client.force_login(world.am_a)
    assert reverse("digest_preferences") in client.get(reverse("email_preferences")).content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_several_hosts_at_once_send_one_digest_a_day(world) -> None:
    import threading

    from django.db import connections

    with freeze_time(at(2026, 9, 21, 10, 0)):
        world.case(State.BRANCH_INTAKE)
    mail.outbox.clear()
    n = 4
    barrier = threading.Barrier(n)
    results: list[int] = []
    errors: list[BaseException] = []

    def host() -> None:
        try:
            barrier.wait()
            # freezegun is not thread-safe; the sweep takes its clock as an argument.
            results.append(digest.digests_send(now=at(2026, 9, 30, 8, 40)))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=host) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(results) == 1
    assert len(digests_of(world.am_a)) == 1
    assert len([m for m in mail.outbox if m.to == [world.am_a.email]]) == 1


def test_a_long_wecom_digest_lists_fewer_cases_to_fit_4096_bytes(world, three_cases):
    from wecom import services

    with freeze_time(at(2026, 9, 30, 9, 0)):
        d = digest.digest_compose(
            user=world.am_a, now=at(2026, 9, 30, 9, 0), cal=digest.workcal.calendar(dt.date(2026, 9, 30))
        )
    d.overdue = d.overdue * 40  # as if forty cases were overdue
    text = digest.wecom_text(d, user=world.am_a)
    assert len(text.encode()) <= services.MAX_BYTES
    assert "…另有" in text and text.rstrip().endswith(")")  # the closing link is whole


def test_the_digest_page_in_english(client, world):
    client.force_login(world.am_a)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = client.get(reverse("digest_preferences")).content.decode()
    assert "<h1>Daily digest</h1>" in html and "By e-mail" in html and "Never on holidays or at night" in html
    assert "每日摘要" not in html
