"""The daily digest: each person's cases in their court, due today and the next working day, overdue, at risk.

Sent on working days only (the `workcalendar` calendar: holidays off, adjusted working days on)
from `DIGEST_LOCAL_TIME` (08:30 Asia/Shanghai) until `DIGEST_LATEST_LOCAL_TIME` (18:00): a beat
task runs every few minutes, on any number of hosts; before the start, after the end, or on a
day off it does nothing, so a worker that was down at 08:30 still sends the morning's digest
when it comes back during the day, and nobody is messaged at night.

Exactly once per person and day: a `DigestRun` row unique on (user, date) is the claim, and
the mail (notices outbox) and the WeCom message (wecom outbox) commit with it. People with
nothing in their court get no digest (the claim is still written, marked empty, so they are
not looked at again that day): a digest that says "nothing" every morning teaches people to
ignore it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from analytics.models import CaseForecast
from branches.roles import STAFF_ROLES
from casetypes import declaration
from notices.models import OutboxEmail
from notices.outbox import email_queue, renderers
from onboarding.models import OnboardingCase
from onboarding.selectors import my_work
from workcalendar import workcal

from . import services
from .models import DigestPreference, DigestRun

log = logging.getLogger(__name__)

SHOWN = 10  # cases listed per section; the rest are counted
BUDGET_SECONDS = 30  # stay under CELERY_TASK_TIME_LIMIT; the next run goes on where this one stopped


def _hhmm(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def window() -> tuple[dt.time, dt.time]:
    start = _hhmm(getattr(settings, "DIGEST_LOCAL_TIME", "08:30"))
    end = _hhmm(getattr(settings, "DIGEST_LATEST_LOCAL_TIME", "18:00"))
    return start, end


def digest_day(now: dt.datetime, cal: workcal.WorkCalendar) -> dt.date | None:
    """The day whose digests may go out at `now`, or None (a day off, before the start, or night)."""
    local = timezone.localtime(now)
    start, end = window()
    if not cal.is_workday(local.date()) or not (start <= local.time() < end):
        return None
    return local.date()


def next_workday(day: dt.date, cal: workcal.WorkCalendar) -> dt.date:
    day += dt.timedelta(days=1)
    while not cal.is_workday(day):
        day += dt.timedelta(days=1)
    return day


def _end_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))


@dataclass
class Digest:
    day: dt.date
    next_day: dt.date
    in_court: list[OnboardingCase] = field(default_factory=list)
    due_today: list[OnboardingCase] = field(default_factory=list)
    due_next: list[OnboardingCase] = field(default_factory=list)
    overdue: list[OnboardingCase] = field(default_factory=list)
    at_risk: list[OnboardingCase] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.in_court

    def counts(self) -> dict[str, int]:
        return {
            "in_court": len(self.in_court),
            "due_today": len(self.due_today),
            "due_next": len(self.due_next),
            "overdue": len(self.overdue),
            "at_risk": len(self.at_risk),
        }


def digest_compose(*, user: Any, now: dt.datetime, cal: workcal.WorkCalendar) -> Digest:
    """What one person's digest says (three queries): everything is read through their scoped selectors."""
    day = timezone.localtime(now).date()
    digest = Digest(day=day, next_day=next_workday(day, cal))
    cases = list(my_work(user=user))
    digest.in_court = cases
    end_today, end_next = _end_of(day), _end_of(digest.next_day)
    for case in cases:
        visit = case.current_visit
        if visit is None or visit.left_at is not None or visit.paused_at is not None or visit.due_at is None:
            continue
        if visit.due_at < now:
            digest.overdue.append(case)
        elif visit.due_at < end_today:
            digest.due_today.append(case)
        elif visit.due_at < end_next:
            digest.due_next.append(case)
    if cases:
        risky = set(
            CaseForecast.objects.filter(case_id__in=[c.pk for c in cases])
            .filter(Q(target_late=True) | Q(stage_late_at__lte=now))
            .values_list("case_id", flat=True)
        )
        digest.at_risk = [c for c in cases if c.pk in risky]
    return digest


def _sections(digest: Digest) -> list[tuple[str, list[OnboardingCase]]]:
    return [
        (_("已超时"), digest.overdue),
        (_("今日到期"), digest.due_today),
        (_("下一工作日(%(day)s)到期") % {"day": digest.next_day.strftime("%m-%d")}, digest.due_next),
        (_("有延期风险"), digest.at_risk),
    ]


def _line(case: OnboardingCase, *, markdown: bool) -> str:
    visit = case.current_visit
    due = ""
    if visit is not None and visit.due_at is not None:
        due = " · " + _("时限 %(due)s") % {"due": timezone.localtime(visit.due_at).strftime("%m-%d %H:%M")}
    what = f"{case.enterprise.name} · {declaration.state_label(case.state)}{due}"
    if markdown:
        return f"- [{case.reference}]({services.case_url(case)}) {services._md(what)}"
    return f"- {case.reference} {what}\n  {services.case_url(case)}"


def _summary(digest: Digest) -> str:
    return _(
        "在我手中 %(court)s 件:已超时 %(overdue)s,今日到期 %(today)s,下一工作日到期 %(next)s,有延期风险 %(risk)s"
    ) % {
        "court": len(digest.in_court),
        "overdue": len(digest.overdue),
        "today": len(digest.due_today),
        "next": len(digest.due_next),
        "risk": len(digest.at_risk),
    }


def digest_text(digest: Digest, *, user: Any, markdown: bool, shown: int = SHOWN) -> str:
    name = str(user)
    title = _("%(name)s 的每日摘要(%(day)s)") % {"name": name, "day": digest.day.isoformat()}
    parts = [f"**{services._md(title)}**" if markdown else title, _summary(digest)]
    for heading, cases in _sections(digest):
        if not cases:
            continue
        lines = [_line(c, markdown=markdown) for c in cases[:shown]]
        if len(cases) > shown:
            lines.append(_("…另有 %(n)s 件") % {"n": len(cases) - shown})
        parts.append((f"**{heading}**" if markdown else f"【{heading}】") + "\n" + "\n".join(lines))
    if not any(cases for _h, cases in _sections(digest)):
        parts.append(_("今日无到期、超时或有风险的案件。"))
    link = settings.SITE_URL + reverse("home")
    label = _("打开我的待办")  # outside the f-string, where makemessages sees it
    parts.append(f"[{label}]({link})" if markdown else _("我的待办:%(url)s") % {"url": link})
    return "\n\n".join(parts)


def _people(day: dt.date) -> Any:
    off = DigestPreference.objects.filter(email=False, wecom=False).values("user_id")
    done = DigestRun.objects.filter(date=day).values("user_id")
    return (
        get_user_model()
        .objects.filter(is_active=True, branch__isnull=False, api_client__isnull=True, groups__name__in=STAFF_ROLES)
        .exclude(pk__in=off)
        .exclude(pk__in=done)
        .select_related("branch")
        .distinct()
        .order_by("pk")
    )


def digests_send(*, now: dt.datetime | None = None) -> int:
    """Claim and send today's digests not sent yet; returns how many went out. Safe to run anywhere, often."""
    now = now or timezone.now()
    local_day = timezone.localtime(now).date()
    cal = workcal.calendar(local_day, local_day + dt.timedelta(days=30))
    day = digest_day(now, cal)
    if day is None:
        return 0
    started = time.monotonic()
    prefs = dict(DigestPreference.objects.values_list("user_id", "email"))
    wecom = set(DigestPreference.objects.filter(wecom=True).values_list("user_id", flat=True))
    sent = 0
    with translation.override(settings.LANGUAGE_CODE):
        for user in _people(day):
            if time.monotonic() - started > BUDGET_SECONDS:
                log.info("digests: time budget used; the next run goes on")
                break
            sent += _send_one(user, day, now, cal, email=prefs.get(user.pk, True), wecom=user.pk in wecom)
    return sent


def _send_one(user: Any, day: dt.date, now: dt.datetime, cal: workcal.WorkCalendar, *, email: bool, wecom: bool) -> int:
    with transaction.atomic():
        token = uuid.uuid4()
        # ON CONFLICT DO NOTHING: on PostgreSQL a second host's insert waits for the first to
        # commit and then inserts nothing; only the host whose token is in the row goes on.
        DigestRun.objects.bulk_create(
            [DigestRun(user=user, date=day, claim=token, created_at=now)], ignore_conflicts=True
        )
        run = DigestRun.objects.filter(user=user, date=day, claim=token).first()
        if run is None:
            return 0
        digest = digest_compose(user=user, now=now, cal=cal)
        run.counts = digest.counts()
        if digest.empty:
            run.empty = True
            run.save(update_fields=["empty", "counts"])
            return 0
        key = f"digest:{user.pk}:{day.isoformat()}"
        channels = []
        robot = services.robot_for_user(user) if wecom else None
        if robot is not None:
            services.message_queue(robot=robot, key=key, kind="digest", content=wecom_text(digest, user=user))
            channels.append("wecom")
        # WeCom chosen but the branch has no robot: by e-mail rather than not at all.
        if (email or robot is None) and user.email:
            subject = _("每日摘要 %(day)s:在我手中 %(n)s 件,已超时 %(overdue)s 件") % {
                "day": day.isoformat(),
                "n": len(digest.in_court),
                "overdue": len(digest.overdue),
            }
            body = digest_text(digest, user=user, markdown=False)
            if email_queue(kind="digest", key=key, to=[user.email], payload={"subject": subject, "body": body}):
                channels.append("email")
        run.channels = channels
        run.save(update_fields=["counts", "channels"])
        return 1 if channels else 0


def wecom_text(digest: Digest, *, user: Any) -> str:
    """The markdown digest, listing fewer cases per section until it fits WeCom's 4,096 bytes."""
    for shown in (SHOWN, 5, 3, 1, 0):
        text = digest_text(digest, user=user, markdown=True, shown=shown)
        if len(text.encode()) <= services.MAX_BYTES:
            return text
    return services.clip(text, services.MAX_BYTES)


@renderers.add(key="digest")
def render_digest_mail(row: OutboxEmail) -> tuple[str, str]:
    return str(row.payload["subject"]), str(row.payload["body"])


def preference_of(user: Any) -> DigestPreference:
    return DigestPreference.objects.filter(user=user).first() or DigestPreference(user=user)


def preference_set(*, user: Any, email: bool, wecom: bool) -> DigestPreference:
    pref, _created = DigestPreference.objects.update_or_create(user=user, defaults={"email": email, "wecom": wecom})
    return pref


@shared_task(acks_late=True, name="wecom.tasks.send_digests")
def send_digests() -> int:
    return digests_send()
