"""WeCom group robots: configuration, the message outbox, sending within WeCom's rate limit.

Queued in the notice's own transaction: `notices.channels` hands every hand-off, reminder and
escalation to `messages_queue`, which inserts one `WeComMessage` per (robot, notice) — the
unique row is the claim, so however often a writer or a flush runs, a notice is posted once.
After commit a worker posts what is due (`WeComChannel`, on the delivery kernel); the
channel's flush (beat entry `delivery-wecom`) picks up what a broker that was down, a retry or
a rate-limit wait left.

Sending holds the robot's row lock, so one worker at a time posts for a robot and the minute
window is counted from the post log (`WeComPost`) without races. WeCom allows 20 messages a
minute per robot; when more are due than the window has room for, they are merged into as few
messages as fit WeCom's 4096-byte markdown limit, never dropped. WeCom answers errors with HTTP
200 and a non-zero `errcode`: 45009 (rate limit) waits for the next minute, any other error is
retried with back-off. A worker killed after WeCom accepted a post but before the commit posts
it again (at-least-once in that one window, as with the mail outbox).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from branches.models import Branch
from casetypes import declaration
from delivery.channels import Channel, deliver, flush, register
from notices.channels import Announcement, AnnouncementKind
from notices.outbox import is_suppressed
from onboarding.models import OnboardingCase
from onboarding.services import CaseError

from . import crypto
from .models import WeComMessage, WeComPost, WeComRobot

log = logging.getLogger(__name__)

MAX_BYTES = 4096  # WeCom's limit on markdown content, in UTF-8 bytes
# Seconds to wait after attempt n fails: 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h.
RETRY_SCHEDULE = (30, 120, 600, 1800, 3600, 10800, 21600, 43200)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
RATE_LIMITED = 45009
WINDOW = dt.timedelta(minutes=1)
TIMEOUT = (3, 10)
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,100}$")
PATH = "/cgi-bin/webhook/send"


def rate_per_minute() -> int:
    return int(getattr(settings, "WECOM_RATE_PER_MINUTE", 20))


# --- robots ------------------------------------------------------------------------------------


def key_clean(key: str) -> str:
    """The webhook key as typed or pasted (the whole webhook address is accepted too); refuses anything else."""
    key = key.strip()
    if key.startswith("http"):
        found = re.search(r"[?&]key=([^&#]+)", key)
        key = found.group(1) if found else key
    if key and not KEY_RE.match(key):
        raise CaseError(_("Webhook 密钥格式不正确:应为群机器人地址中 key= 后面的部分。"))
    return key


def base_url_clean(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    if base_url and not base_url.startswith(("https://", "http://")):
        raise CaseError(_("企业微信服务地址须以 https:// 或 http:// 开头。"))
    return base_url


def robot_save(
    *,
    branch: Branch,
    key: str = "",
    name: str = "",
    base_url: str = "",
    is_active: bool = True,
    robot: WeComRobot | None = None,
) -> WeComRobot:
    """Create or change a branch's robot. A new robot needs its key; an empty key keeps the old one."""
    key = key_clean(key)
    if (robot is None or not robot.key_encrypted) and not key:
        raise CaseError(_("请填写群机器人的 Webhook 密钥。"))
    robot = robot or WeComRobot(branch=branch)
    robot.branch, robot.name, robot.is_active = branch, name, is_active
    robot.base_url = base_url_clean(base_url)
    if key:
        robot.key_encrypted = crypto.key_encrypt(key)
        robot.key_hint = crypto.key_mask(key)
    robot.updated_at = timezone.now()
    robot.save()
    return robot


def robot_url(robot: WeComRobot) -> str:
    base = robot.base_url or getattr(settings, "WECOM_BASE_URL", "https://qyapi.weixin.qq.com")
    return base.rstrip("/") + PATH


def _robots_by_path() -> dict[str, WeComRobot]:
    return {r.branch.path: r for r in WeComRobot.objects.filter(is_active=True).select_related("branch")}


def _ancestors(path: str) -> list[str]:
    """The branch's own path, then each level up to head office."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)]


def robots_for(path: str, *, head_office: bool, robots: dict[str, WeComRobot]) -> list[WeComRobot]:
    """The nearest robot up the tree from the case's branch, and head office's when it is concerned.

    A sub-branch without its own group posts to its branch's; head office hears of head-office
    escalations and of cases that now wait on head office (and of everything when no other
    branch on the path has a robot).
    """
    found: list[WeComRobot] = []
    for p in _ancestors(path):
        robot = robots.get(p)
        if robot is not None:
            found.append(robot)
            break
    if head_office:
        top = robots.get(_ancestors(path)[-1])
        if top is not None and top not in found:
            found.append(top)
    return found


# --- content -----------------------------------------------------------------------------------

TITLES = {
    AnnouncementKind.HANDOFF: ("info", gettext_lazy("案件转办")),
    AnnouncementKind.REMINDER: ("warning", gettext_lazy("到期提醒")),
    AnnouncementKind.ESCALATION: ("warning", gettext_lazy("上级督办")),
    AnnouncementKind.HEAD_OFFICE_ESCALATION: ("warning", gettext_lazy("总行督办")),
}


def case_url(case: OnboardingCase) -> str:
    return settings.SITE_URL + reverse("case_detail", args=[case.public_id])


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def _md(text: str) -> str:
    """Plain text inside WeCom markdown: no links or markup of its own."""
    return re.sub(r"[\[\]<>`*]", " ", text).strip()


def notice_markdown(item: Announcement, case: OnboardingCase) -> str:
    colour, title = TITLES.get(item.kind, ("info", gettext_lazy("案件通知")))
    visit = case.current_visit
    lines = [
        f'**<font color="{colour}">{title}</font>** {_md(case.reference)}',
        f"> {_md(item.text)}",
        f"> {_('企业')}:{_md(case.enterprise.name)}",
        f"> {_('机构')}:{_md(case.branch.name)}",
    ]
    if visit is not None and visit.due_at is not None:
        due = timezone.localtime(visit.due_at).strftime("%Y-%m-%d %H:%M")
        lines.append(f"> {_('阶段')}:{declaration.state_label(case.state)} · {_('办理时限')} {due}")
    lines.append(f"[{_('查看案件')}]({case_url(case)})")
    return clip("\n".join(lines), MAX_BYTES - 200)


# --- queueing ----------------------------------------------------------------------------------


def messages_queue(items: Sequence[Announcement]) -> None:
    """The listener on `notices.channels`: one message per (robot, notice), in the notice's transaction."""
    if is_suppressed() or not items:
        return
    robots = _robots_by_path()
    if not robots:
        return
    cases = {
        c.pk: c
        for c in OnboardingCase.objects.filter(pk__in={i.case_id for i in items}).select_related(
            "enterprise", "branch", "current_visit"
        )
    }
    now = timezone.now()
    rows = []
    for item in items:
        case = cases.get(item.case_id)
        if case is None:
            continue
        content = notice_markdown(item, case)
        for robot in robots_for(case.branch.path, head_office=item.head_office, robots=robots):
            rows.append(
                WeComMessage(
                    robot=robot,
                    key=item.key,
                    kind=item.kind,
                    case=case,
                    content=content,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    _insert(rows)


def message_queue(*, robot: WeComRobot, key: str, kind: str, content: str) -> None:
    """One message that is not about a case (a person's daily digest)."""
    now = timezone.now()
    _insert([WeComMessage(robot=robot, key=key, kind=kind, content=clip(content, MAX_BYTES), created_at=now)])


def _insert(rows: list[WeComMessage]) -> None:
    if not rows:
        return
    # A notice announced twice (it should not be) is still posted once: the unique row is the claim.
    WeComMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    robot_ids = sorted({r.robot_id for r in rows})
    deliver(WeComChannel, robot_ids)


def robots_flush(*, now: dt.datetime | None = None) -> int:
    """Queue a send for every robot with messages due (broker down at commit, a retry, a rate-limit wait)."""
    return flush(WeComChannel, now=now)


@register
class WeComChannel(Channel):
    """WeCom group robots. The unit of sending is a robot: its due messages go out together,
    merged when more are due than its minute has room for (`robot_send`)."""

    key = "wecom"
    label = gettext_lazy("企业微信群消息")
    model = WeComMessage
    retry_schedule = RETRY_SCHEDULE
    flush_seconds_setting = "WECOM_FLUSH_SECONDS"

    def due(self, now: dt.datetime) -> Any:
        return super().due(now).filter(robot__is_active=True)

    def due_ids(self, now: dt.datetime) -> list[Any]:
        return sorted(set(self.due(now).values_list("robot_id", flat=True)))

    def send_ids(self, ids: Sequence[Any], now: dt.datetime | None = None) -> int:
        return sum(robot_send(robot_id=robot_id, now=now) for robot_id in ids)


# --- sending -----------------------------------------------------------------------------------


def merged(messages: Sequence[WeComMessage]) -> str:
    head = _("**合并推送**:本分钟通知较多,以下 %(n)s 条合并发送") % {"n": len(messages)}
    return "\n\n".join([head, *(m.content for m in messages)])


def pack(messages: Sequence[WeComMessage]) -> list[list[WeComMessage]]:
    """Consecutive messages packed greedily into groups whose merged content fits MAX_BYTES."""
    groups: list[list[WeComMessage]] = []
    for m in messages:
        if groups and len(merged([*groups[-1], m]).encode()) <= MAX_BYTES:
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def _post(robot: WeComRobot, content: str) -> tuple[int | None, int | None, str]:
    """(HTTP status, errcode, error text); errcode 0 is success."""
    try:
        key = crypto.key_decrypt(robot.key_encrypted)
    except crypto.KeyUnreadable:
        return None, None, "webhook key cannot be decrypted (WECOM_KEY_SECRET changed?)"
    body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": content}}
    try:
        response = requests.post(robot_url(robot), params={"key": key}, json=body, timeout=TIMEOUT)
    except requests.RequestException as exc:
        return None, None, type(exc).__name__
    if response.status_code != 200:
        return response.status_code, None, f"HTTP {response.status_code}"
    try:
        answer: Any = response.json()
        errcode = int(answer.get("errcode", -1))
    except (ValueError, AttributeError, TypeError):
        return response.status_code, None, "response is not WeCom's JSON"
    return response.status_code, errcode, "" if errcode == 0 else f"errcode {errcode}: {answer.get('errmsg', '')}"


def next_window(now: dt.datetime) -> dt.datetime:
    return now.replace(second=0, microsecond=0) + WINDOW


def robot_send(*, robot_id: int, now: dt.datetime | None = None) -> int:
    """Post what is due for one robot within its minute window; returns how many notices went out."""
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        robot = WeComRobot.objects.select_for_update().filter(pk=robot_id, is_active=True).first()
        if robot is None:
            return 0
        due = list(
            WeComMessage.objects.filter(
                robot=robot, sent_at__isnull=True, given_up_at__isnull=True, next_attempt_at__lte=now
            ).order_by("created_at", "pk")[:500]
        )
        if not due:
            return 0
        window = list(
            WeComPost.objects.filter(robot=robot, at__gt=now - WINDOW).order_by("at").values_list("at", flat=True)
        )
        room = rate_per_minute() - len(window)
        if room <= 0:
            _wait([m.pk for m in due], window[0] + WINDOW)
            return 0
        groups = [[m] for m in due] if len(due) <= room else pack(due)
        for i, group in enumerate(groups):
            if i >= room:
                _wait([m.pk for g in groups[i:] for m in g], (window[0] if window else now) + WINDOW)
                break
            content = group[0].content if len(group) == 1 else merged(group)
            status, errcode, error = _post(robot, content)
            post = WeComPost.objects.create(
                robot=robot, at=now, merged=len(group), http_status=status, errcode=errcode, error=error[:300]
            )
            window.append(now)
            ids = [m.pk for m in group]
            if errcode == 0:
                WeComMessage.objects.filter(pk__in=ids).update(sent_at=now, post=post, last_error="")
                sent += len(group)
                continue
            rest = [m.pk for g in groups[i + 1 :] for m in g]
            if errcode == RATE_LIMITED:
                # WeCom counts more than we did (another system posts to this robot): next minute.
                WeComMessage.objects.filter(pk__in=ids).update(last_error=error[:300])
                _wait(ids + rest, next_window(now))
            else:
                log.warning("WeCom robot %s: %s", robot.pk, error)
                _fail(group, error, now)
                # The robot is failing: the others wait as long as the first, without an attempt counted.
                _wait(rest, now + dt.timedelta(seconds=RETRY_SCHEDULE[0]))
            break
    return sent


def _wait(ids: list[int], until: dt.datetime) -> None:
    WeComChannel().wait(ids, until)


def _fail(group: Sequence[WeComMessage], error: str, now: dt.datetime) -> None:
    WeComChannel().record_failure(group, error, now)


def robot_test(*, robot: WeComRobot, by: Any) -> None:
    """A test message from the admin ("send a test message")."""
    message_queue(
        robot=robot,
        key=f"test:{robot.pk}:{timezone.now().isoformat()}",
        kind="test",
        content=_("**测试消息**:银企直联开通跟踪系统已连接本群(%(who)s 发送)。") % {"who": by},
    )


def robot_for_user(user: Any) -> WeComRobot | None:
    """The group of a person's home branch (the nearest robot up the tree)."""
    if user.branch_id is None:
        return None
    robots = _robots_by_path()
    found = robots_for(user.branch.path, head_office=False, robots=robots)
    return found[0] if found else None
