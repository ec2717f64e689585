"""WeCom group robots: a real receiver on 127.0.0.1, errcode 45009 once, merging past 20 a minute, the key at rest."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from delivery import channels as delivery_channels
from notices.channels import Announcement, AnnouncementKind
from onboarding import services as case_services
from onboarding.states import State
from reminders import services as reminder_services
from wecom import crypto, services
from wecom.models import WeComMessage, WeComPost, WeComRobot

SH = ZoneInfo("Asia/Shanghai")
KEY = "693a91f6-7a1b-4bc4-97a0-0ec2af5aaa11"


class WeCom:
    """WeCom's webhook API on 127.0.0.1: answers the `errcodes` in turn (then 0), as WeCom does, with HTTP 200."""

    def __init__(self, errcodes: list[int]) -> None:
        self.errcodes = list(errcodes)
        self.requests: list[dict[str, Any]] = []
        wecom = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                errcode = wecom.errcodes.pop(0) if wecom.errcodes else 0
                wecom.requests.append(
                    {"path": url.path, "key": parse_qs(url.query).get("key"), "body": body, "errcode": errcode}
                )
                answer = json.dumps({"errcode": errcode, "errmsg": "ok" if errcode == 0 else "api freq out of limit"})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def accepted(self) -> list[str]:
        return [r["body"]["markdown"]["content"] for r in self.requests if r["errcode"] == 0]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def wecom_factory() -> Iterator[Any]:
    started: list[WeCom] = []

    def make(errcodes: list[int] | None = None) -> WeCom:
        w = WeCom(errcodes or [])
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


def robot(branch: Any, wecom: WeCom, key: str = KEY) -> WeComRobot:
    return services.robot_save(branch=branch, key=key, name=f"{branch.name}群", base_url=wecom.url)


def test_a_hand_off_is_posted_once_after_a_rate_limit_answer(world, wecom_factory, django_capture_on_commit_callbacks):
    wecom = wecom_factory([services.RATE_LIMITED])
    bot = robot(world.branch_a, wecom)
    case = world.case(State.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_transition(case=case, user=world.customer_x, name="submit")
    message = WeComMessage.objects.get(robot=bot)
    # WeCom said 45009 (HTTP 200): not sent, waiting for the next minute window.
    assert len(wecom.requests) == 1 and wecom.requests[0]["errcode"] == services.RATE_LIMITED
    assert message.sent_at is None and message.attempts == 0
    assert message.next_attempt_at.second == 0 and message.next_attempt_at > timezone.now()
    assert services.robots_flush() == 0  # not due yet: nothing posted
    assert len(wecom.requests) == 1
    assert services.robot_send(robot_id=bot.pk, now=message.next_attempt_at) == 1
    services.robot_send(robot_id=bot.pk, now=message.next_attempt_at + dt.timedelta(minutes=5))
    services.robots_flush(now=message.next_attempt_at + dt.timedelta(minutes=5))
    message.refresh_from_db()
    assert message.sent_at is not None
    assert len(wecom.requests) == 2 and len(wecom.accepted) == 1  # delivered exactly once
    request = wecom.requests[-1]
    assert request["path"] == "/cgi-bin/webhook/send" and request["key"] == [KEY]
    assert request["body"]["msgtype"] == "markdown"
    content = request["body"]["markdown"]["content"]
    case.refresh_from_db()
    assert f"({settings.SITE_URL}/cases/{case.public_id}/)" in content
    assert case.reference in content and "案件转办" in content and "甲公司" in content
    assert [p.errcode for p in WeComPost.objects.filter(robot=bot).order_by("at", "pk")] == [45009, 0]


def test_another_branchs_case_is_not_posted_to_this_branchs_group(world, wecom_factory):
    wecom = wecom_factory()
    robot(world.branch_b, wecom)
    world.case(State.BRANCH_INTAKE)  # company X, branch A
    assert not WeComMessage.objects.exists() and wecom.requests == []


def test_other_errors_are_retried_with_back_off(world, wecom_factory, django_capture_on_commit_callbacks):
    wecom = wecom_factory([93000, 93000])  # invalid webhook URL (key), twice
    bot = robot(world.branch_a, wecom)
    case = world.case(State.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        case_services.case_transition(case=case, user=world.customer_x, name="submit")
    message = WeComMessage.objects.get(robot=bot)
    first_wait = message.next_attempt_at - WeComPost.objects.get(robot=bot).at
    services.robot_send(robot_id=bot.pk, now=message.next_attempt_at)
    message.refresh_from_db()
    second_wait = message.next_attempt_at - WeComPost.objects.filter(robot=bot).order_by("-pk").first().at
    assert message.attempts == 2 and message.sent_at is None and "93000" in message.last_error
    assert dt.timedelta(0) < first_wait < second_wait
    services.robot_send(robot_id=bot.pk, now=message.next_attempt_at)
    message.refresh_from_db()
    assert message.sent_at is not None and len(wecom.accepted) == 1 and len(wecom.requests) == 3


def test_more_than_twenty_due_in_a_minute_are_merged_not_dropped(
    world, wecom_factory, django_capture_on_commit_callbacks
):
    wecom = wecom_factory()
    bot = robot(world.branch_a, wecom)
    cases = [world.case(State.DRAFT) for _ in range(25)]
    with django_capture_on_commit_callbacks(execute=True):
        for case in cases:
            case_services.case_transition(case=case, user=world.customer_x, name="submit")
    assert WeComMessage.objects.filter(robot=bot).count() == 25
    assert not WeComMessage.objects.filter(robot=bot, sent_at__isnull=True).exists()
    assert 1 <= len(wecom.requests) < 25
    contents = wecom.accepted
    assert all(len(c.encode()) <= services.MAX_BYTES for c in contents)
    assert all("合并推送" in c for c in contents)
    for case in cases:
        case.refresh_from_db()
        assert sum(c.count(f"/cases/{case.public_id}/") for c in contents) == 1


def test_never_more_than_twenty_posts_a_minute(world, wecom_factory):
    case = world.case(State.BRANCH_INTAKE)
    wecom = wecom_factory()
    bot = robot(world.branch_a, wecom)
    items = [
        Announcement(key=f"t:{i}", kind=AnnouncementKind.REMINDER, case_id=case.pk, text=f"提醒 {i}") for i in range(3)
    ]
    services.messages_queue(items)
    now = timezone.now()
    WeComPost.objects.bulk_create(
        [WeComPost(robot=bot, at=now - dt.timedelta(seconds=30), errcode=0) for _ in range(20)]
    )
    assert services.robot_send(robot_id=bot.pk, now=now) == 0
    assert wecom.requests == []
    waiting = set(WeComMessage.objects.filter(robot=bot).values_list("next_attempt_at", flat=True))
    assert waiting == {now + dt.timedelta(seconds=30)}  # when the oldest post leaves the window
    assert services.robot_send(robot_id=bot.pk, now=now + dt.timedelta(seconds=31)) == 3
    assert len(wecom.requests) == 3  # room again: each on its own


def test_a_merged_batch_too_long_for_one_message_is_split(world, wecom_factory):
    case = world.case(State.BRANCH_INTAKE)
    wecom = wecom_factory()
    bot = robot(world.branch_a, wecom)
    long_text = "长" * 400  # 1,200 bytes each: three fit in 4,096 bytes
    services.messages_queue(
        [Announcement(key=f"t:{i}", kind=AnnouncementKind.REMINDER, case_id=case.pk, text=long_text) for i in range(7)]
    )
    now = timezone.now()
    WeComPost.objects.bulk_create([WeComPost(robot=bot, at=now, errcode=0) for _ in range(17)])
    services.robot_send(robot_id=bot.pk, now=now)
    assert len(wecom.requests) == 3  # the room left, each merged message under the limit
    assert all(len(c.encode()) <= services.MAX_BYTES for c in wecom.accepted)
    later = now + dt.timedelta(minutes=1, seconds=1)
    services.robot_send(robot_id=bot.pk, now=later)
    assert not WeComMessage.objects.filter(sent_at__isnull=True).exists()
    assert sum(c.count(long_text) for c in wecom.accepted) == 7


def test_reminders_and_escalations_post_to_the_branch_and_head_office(
    world, wecom_factory, django_capture_on_commit_callbacks
):
    wecom_a, wecom_ho = wecom_factory(), wecom_factory()
    bot_a, bot_ho = robot(world.branch_a, wecom_a), robot(world.head_office, wecom_ho, key="hq-robot-key-0001")
    with freeze_time(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)):
        case = world.case(State.BRANCH_INTAKE)
    WeComMessage.objects.all().delete()  # the hand-offs that built the case
    with freeze_time(dt.datetime(2026, 6, 8, 10, 1, tzinfo=SH)), django_capture_on_commit_callbacks(execute=True):
        reminder_services.reminders_sweep()
    with freeze_time(dt.datetime(2026, 6, 8, 10, 2, tzinfo=SH)), django_capture_on_commit_callbacks(execute=True):
        reminder_services.reminders_sweep()  # again: nothing new
    assert [m.kind for m in WeComMessage.objects.filter(robot=bot_a)] == ["reminder"]
    assert not WeComMessage.objects.filter(robot=bot_ho).exists()
    assert len(wecom_a.accepted) == 1 and "到期提醒" in wecom_a.accepted[0] and case.reference in wecom_a.accepted[0]
    with freeze_time(dt.datetime(2026, 6, 15, 10, 0, tzinfo=SH)), django_capture_on_commit_callbacks(execute=True):
        reminder_services.reminders_sweep()  # 1.5× and 2×
    assert sorted(WeComMessage.objects.filter(robot=bot_a).values_list("kind", flat=True)) == [
        "escalation",
        "head_office_escalation",
        "reminder",
    ]
    assert list(WeComMessage.objects.filter(robot=bot_ho).values_list("kind", flat=True)) == ["head_office_escalation"]
    assert len(wecom_ho.accepted) == 1 and "总行督办" in wecom_ho.accepted[0]
    assert wecom_ho.requests[0]["key"] == ["hq-robot-key-0001"]


def test_the_broker_down_at_commit_leaves_the_message_for_the_flush(
    world, wecom_factory, django_capture_on_commit_callbacks, monkeypatch
):
    from kombu.exceptions import OperationalError

    wecom = wecom_factory()
    bot = robot(world.branch_a, wecom)
    case = world.case(State.DRAFT)

    def down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("broker down")

    with monkeypatch.context() as m:
        m.setattr(delivery_channels.send_rows, "apply_async", down)
        with django_capture_on_commit_callbacks(execute=True):
            case_services.case_transition(case=case, user=world.customer_x, name="submit")
    assert wecom.requests == [] and WeComMessage.objects.filter(robot=bot, sent_at__isnull=True).count() == 1
    assert services.robots_flush() == 1
    assert len(wecom.accepted) == 1 and services.robots_flush() == 0


# --- the administrator's side ---------------------------------------------------------------------


def _admin(client: Any) -> Any:
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    client.force_login(admin)
    return admin


def test_the_key_is_encrypted_at_rest_and_shown_masked(
    client, world, wecom_factory, django_capture_on_commit_callbacks
):
    wecom = wecom_factory()
    _admin(client)
    response = client.post(
        reverse("admin:wecom_wecomrobot_add"),
        {
            "branch": world.branch_a.pk,
            "name": "A支行群",
            "key": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}",
            "base_url": wecom.url,
            "is_active": "on",
            "_save": "1",
        },
    )
    assert response.status_code == 302
    bot = WeComRobot.objects.get(branch=world.branch_a)
    assert KEY not in bot.key_encrypted and crypto.key_decrypt(bot.key_encrypted) == KEY
    page = client.get(reverse("admin:wecom_wecomrobot_change", args=[bot.pk])).content.decode()
    listing = client.get(reverse("admin:wecom_wecomrobot_changelist")).content.decode()
    for html in (page, listing):
        assert KEY not in html and "693a****aa11" in html
    # Saved again with the key left empty: the key is kept.
    client.post(
        reverse("admin:wecom_wecomrobot_change", args=[bot.pk]),
        {"branch": world.branch_a.pk, "name": "A支行群(新)", "key": "", "base_url": wecom.url, "is_active": "on"},
    )
    bot.refresh_from_db()
    assert bot.name == "A支行群(新)" and crypto.key_decrypt(bot.key_encrypted) == KEY
    # The test action posts through the real path.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:wecom_wecomrobot_changelist"), {"action": "send_test", "_selected_action": [bot.pk]})
    assert len(wecom.accepted) == 1 and "测试消息" in wecom.accepted[0] and wecom.requests[0]["key"] == [KEY]


def test_a_robot_without_a_valid_key_is_refused_and_nothing_saved(client, world):
    _admin(client)
    response = client.post(
        reverse("admin:wecom_wecomrobot_add"),
        {
            "branch": world.branch_a.pk,
            "name": "A",
            "key": "not a key!",
            "base_url": "ftp://files.example.com",
            "is_active": "on",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200 and "Webhook 密钥格式不正确" in html and "须以 https://" in html
    response = client.post(
        reverse("admin:wecom_wecomrobot_add"), {"branch": world.branch_a.pk, "name": "A", "key": "", "is_active": "on"}
    )
    assert "请填写群机器人的 Webhook 密钥" in response.content.decode()
    assert not WeComRobot.objects.exists()


def test_staff_who_are_not_administrators_cannot_configure_robots(client, world):
    client.force_login(world.supervisor)
    response = client.post(
        reverse("admin:wecom_wecomrobot_add"),
        {"branch": world.branch_a.pk, "name": "A", "key": KEY, "is_active": "on"},
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    world.supervisor.is_staff = True  # admin access, but no permission on robots
    world.supervisor.save()
    client.force_login(world.supervisor)
    assert client.get(reverse("admin:wecom_wecomrobot_add")).status_code == 403
    assert not WeComRobot.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_sending_for_one_robot_at_once_post_each_notice_once(world, wecom_factory, monkeypatch) -> None:
    from django.db import connections

    case = world.case(State.BRANCH_INTAKE)
    wecom = wecom_factory()
    bot = robot(world.branch_a, wecom)
    with monkeypatch.context() as m:
        m.setattr(delivery_channels, "dispatch", lambda *a, **kw: 0)  # queued, not yet sent: the workers race for them
        services.messages_queue(
            [
                Announcement(key=f"t:{i}", kind=AnnouncementKind.REMINDER, case_id=case.pk, text=f"提醒 {i}")
                for i in range(12)
            ]
        )
    assert WeComMessage.objects.filter(sent_at__isnull=True).count() == 12
    n = 4
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            services.robot_send(robot_id=bot.pk)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert not WeComMessage.objects.filter(sent_at__isnull=True).exists()
    for i in range(12):
        assert sum(len(re.findall(rf"提醒 {i}\b", c)) for c in wecom.accepted) == 1
    assert len(wecom.requests) <= services.rate_per_minute()
