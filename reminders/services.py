"""Writes: the overdue sweep (claim, record, notify, queue mail), sending the outbox, reading notices."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import Role
from onboarding import notifications as core_notifications
from onboarding.models import CaseEvent, OnboardingCase, StageVisit
from onboarding.states import CUSTOMER, State

from . import workcal
from .models import Notification, OutboxEmail, Reminder

log = logging.getLogger(__name__)

# Reminder level → how far past the due time it fires, as a fraction of the stage's SLA
# (1× SLA = at the due time, 1.5× = half an SLA later, 2× = a whole SLA later).
LEVEL_LATENESS = {Reminder.Level.REMIND: 0.0, Reminder.Level.ESCALATE: 0.5, Reminder.Level.HEAD_OFFICE: 1.0}
LEVEL_EVENT_NAME = {
    Reminder.Level.REMIND: "remind",
    Reminder.Level.ESCALATE: "escalate",
    Reminder.Level.HEAD_OFFICE: "escalate_head_office",
}
# Holders that already sit at tier-1 or head office escalate straight to head office.
UPPER_ROLES = frozenset({Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER})
OUTBOX_BATCH = 200


@dataclass
class SweepResult:
    overdue: int = 0
    claimed: list[int] = field(default_factory=list)  # Reminder ids this sweep inserted
    emails: int = 0


@dataclass(frozen=True)
class Person:
    pk: int | None
    email: str


def reached_level(*, lateness_seconds: int, sla_days: int) -> int:
    """The highest reminder level a visit `lateness_seconds` of working time past its due time has reached."""
    level = 0
    for lvl, fraction in LEVEL_LATENESS.items():
        if lateness_seconds >= fraction * sla_days * workcal.DAY:
            level = int(lvl)
    return level


def _overdue_visits(now: dt.datetime) -> list[StageVisit]:
    """The one query of the sweep: open, running, overdue visits not yet escalated to the top.

    It walks the partial index `open_visit_due_idx` (due_at WHERE left_at IS NULL), so its cost
    follows the number of overdue visits, not the number of cases.
    """
    last = Reminder.objects.filter(visit=OuterRef("pk")).order_by("-level").values("level")[:1]
    return list(
        StageVisit.objects.filter(left_at__isnull=True, paused_at__isnull=True, due_at__lt=now)
        .annotate(last_level=Subquery(last))
        .filter(Q(last_level__isnull=True) | Q(last_level__lt=Reminder.Level.HEAD_OFFICE))
        .select_related("case__branch", "case__enterprise", "case__account_manager")
        .order_by("due_at")
    )


def reminders_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Send every reminder level that overdue visits have reached and nobody has sent yet.

    Exactly once per (visit, level), however often and however concurrently this runs: the
    unique Reminder row is the claim. All sweeps INSERT … ON CONFLICT DO NOTHING with their
    own claim token and then read back the rows carrying their token; a row another sweep
    inserted first (committed or not: PostgreSQL makes the second insert wait on the unique
    index) is simply not theirs. Event, in-app notices and the mail outbox row commit in the
    same transaction as the claim, so a crash before commit leaves nothing claimed, and a
    crash after it leaves everything recorded and the mail in the outbox.
    """
    now = now or timezone.now()
    result = SweepResult()
    visits = _overdue_visits(now)
    result.overdue = len(visits)
    if not visits:
        return result
    sla = workcal.sla_map()
    cal = workcal.calendar(timezone.localtime(visits[0].due_at).date(), timezone.localtime(now).date())
    token = uuid.uuid4()
    wanted = []
    for visit in visits:
        days = sla.get(visit.stage)
        if not days:
            continue
        assert visit.due_at is not None
        reached = reached_level(lateness_seconds=cal.working_seconds(visit.due_at, now), sla_days=days)
        for level in range((visit.last_level or 0) + 1, reached + 1):  # type: ignore[attr-defined]
            wanted.append(
                Reminder(
                    visit=visit,
                    case_id=visit.case_id,
                    level=level,
                    stage=visit.stage,
                    due_at=visit.due_at,
                    claim=token,
                    created_at=now,
                )
            )
    if not wanted:
        return result
    by_visit = {v.pk: v for v in visits}
    with transaction.atomic():
        Reminder.objects.bulk_create(wanted, ignore_conflicts=True, batch_size=2000)
        mine = list(Reminder.objects.filter(claim=token).order_by("pk"))
        if not mine:
            return result
        directory = _Directory([by_visit[r.visit_id].case for r in mine])
        events: list[CaseEvent] = []
        notices: list[Notification] = []
        outbox: list[OutboxEmail] = []
        for reminder in mine:
            visit = by_visit[reminder.visit_id]
            case = visit.case
            people = directory.recipients(visit, reminder.level)
            emails = sorted({p.email for p in people if p.email})
            events.append(
                CaseEvent(
                    case_id=case.pk,
                    kind=CaseEvent.Kind.REMINDER,
                    name=LEVEL_EVENT_NAME[Reminder.Level(reminder.level)],
                    data={
                        "level": reminder.level,
                        "stage": visit.stage,
                        "visit": visit.pk,
                        "due_at": visit.due_at.isoformat() if visit.due_at else None,
                        "recipients": emails,
                    },
                    created_at=now,
                )
            )
            text = notice_text(case=case, stage=visit.stage, level=reminder.level)
            notices.extend(
                Notification(recipient_id=pk, case_id=case.pk, reminder=reminder, text=text, created_at=now)
                for pk in sorted({p.pk for p in people if p.pk is not None})
            )
            if emails:
                outbox.append(OutboxEmail(reminder=reminder, to=emails, created_at=now))
        CaseEvent.objects.bulk_create(events, batch_size=2000)
        Notification.objects.bulk_create(notices, batch_size=2000)
        rows = OutboxEmail.objects.bulk_create(outbox, batch_size=2000)
        result.claimed = [r.pk for r in mine]
        result.emails = len(rows)
        if rows:
            # bulk_create does not return primary keys on every backend; the reminders do identify the rows.
            transaction.on_commit(lambda: outbox_queue(reminder_ids=[r.pk for r in mine]))
    return result


def notice_text(*, case: OnboardingCase, stage: str, level: int) -> str:
    label = State(stage).label
    if level == Reminder.Level.REMIND:
        return _("%(ref)s %(company)s:%(stage)s已超过办理时限 / is past its due time") % {
            "ref": case.reference,
            "company": case.enterprise.name,
            "stage": label,
        }
    if level == Reminder.Level.ESCALATE:
        return _("督办:%(ref)s %(company)s 在%(stage)s阶段已超时1.5倍 / escalated: 1.5× the service level") % {
            "ref": case.reference,
            "company": case.enterprise.name,
            "stage": label,
        }
    return _("总行督办:%(ref)s %(company)s 在%(stage)s阶段已超时2倍 / head office: 2× the service level") % {
        "ref": case.reference,
        "company": case.enterprise.name,
        "stage": label,
    }


class _Directory:
    """Who to tell, for a batch of cases, in a fixed number of queries.

    Bank staff are read once (their number does not grow with cases); enterprise users only
    for the companies in the batch.
    """

    def __init__(self, cases: Iterable[OnboardingCase]) -> None:
        User = get_user_model()
        self.by_role_path: dict[tuple[str, str], list[Person]] = defaultdict(list)
        staff = User.objects.filter(is_active=True, branch__isnull=False, groups__name__in=Role.values).values_list(
            "pk", "email", "branch__path", "groups__name"
        )
        for pk, email, path, role in staff:
            self.by_role_path[(role, path)].append(Person(pk, email))
        enterprise_ids = {c.enterprise_id for c in cases}
        self.customers: dict[int, list[Person]] = defaultdict(list)
        for pk, email, enterprise_id in User.objects.filter(
            is_active=True, enterprise_id__in=enterprise_ids
        ).values_list("pk", "email", "enterprise_id"):
            self.customers[enterprise_id].append(Person(pk, email))

    @staticmethod
    def _ancestors(path: str) -> list[str]:
        """The branch's own path, then each level up to head office."""
        parts = path.strip("/").split("/")
        return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)]

    def _role_at(self, role: str, paths: Iterable[str]) -> list[Person]:
        return [p for path in paths for p in self.by_role_path.get((role, path), [])]

    def holders(self, visit: StageVisit) -> list[Person]:
        case = visit.case
        if visit.holder_role == CUSTOMER:
            people = list(self.customers.get(case.enterprise_id, []))
            if case.enterprise.contact_email:
                people.append(Person(None, case.enterprise.contact_email))
            # The account manager chases the customer, so hears of it too.
            if case.account_manager is not None:
                people.append(Person(case.account_manager.pk, case.account_manager.email))
            return people
        if visit.holder_role == Role.ACCOUNT_MANAGER and case.account_manager is not None:
            return [Person(case.account_manager.pk, case.account_manager.email)]
        return self._role_at(visit.holder_role, self._ancestors(case.branch.path))

    def head_office(self, visit: StageVisit) -> list[Person]:
        return self._role_at(Role.HEAD_OFFICE_APPROVER, self._ancestors(visit.case.branch.path)[-1:])

    def supervisors(self, visit: StageVisit) -> list[Person]:
        """The next level up: the nearest branch above the case's with a supervisor; head office at the top."""
        if visit.holder_role in UPPER_ROLES:
            return self.head_office(visit)
        for path in self._ancestors(visit.case.branch.path)[1:]:
            found = self._role_at(Role.BRANCH_SUPERVISOR, [path])
            if found:
                return found
        return self.head_office(visit)

    def recipients(self, visit: StageVisit, level: int) -> list[Person]:
        if level == Reminder.Level.REMIND:
            return self.holders(visit)
        if level == Reminder.Level.ESCALATE:
            return self.supervisors(visit)
        return self.head_office(visit)


# --- the mail outbox -------------------------------------------------------------------------


def outbox_queue(*, reminder_ids: list[int]) -> None:
    """Hand unsent mail to the workers; if the broker is down the sweep's flush tries again later."""
    from kombu.exceptions import OperationalError

    from .tasks import send_reminder_emails

    if core_notifications.is_suppressed():
        return
    for start in range(0, len(reminder_ids), OUTBOX_BATCH):
        try:
            send_reminder_emails.delay(reminder_ids[start : start + OUTBOX_BATCH])
        except OperationalError:
            log.exception("could not queue reminder mail; the next sweep will retry")
            return


def outbox_flush(*, now: dt.datetime | None = None, older_than: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """Re-queue mail left unsent (broker down at commit, a worker lost); sending is idempotent."""
    now = now or timezone.now()
    ids = list(
        OutboxEmail.objects.filter(sent_at__isnull=True, created_at__lt=now - older_than, attempts__lt=10)
        .order_by("created_at")
        .values_list("reminder_id", flat=True)[:5000]
    )
    if ids:
        outbox_queue(reminder_ids=ids)
    return len(ids)


def outbox_send(*, reminder_ids: list[int]) -> int:
    """Send the outbox mail of these reminders that nobody has sent yet; returns how many were sent.

    Each row is locked (SKIP LOCKED: another worker has it), sent, and marked sent in one
    transaction. A worker killed after the SMTP server accepted but before the commit leaves
    the row unsent and the message is sent again (at-least-once in that one window); killed
    anywhere else, the mail is sent exactly once.
    """
    sent = 0
    for reminder_id in reminder_ids:
        with transaction.atomic():
            row = (
                OutboxEmail.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("reminder__case__enterprise", "reminder__case__branch", "reminder__visit")
                .filter(reminder_id=reminder_id, sent_at__isnull=True)
                .first()
            )
            if row is None:
                continue
            subject, body = reminder_email(row.reminder)
            try:
                send_mail(subject, body, None, row.to)
            except OSError:
                log.exception("reminder mail %s failed; it stays in the outbox", row.pk)
                OutboxEmail.objects.filter(pk=row.pk).update(attempts=row.attempts + 1)
                continue
            row.sent_at = timezone.now()
            row.attempts += 1
            row.save(update_fields=["sent_at", "attempts"])
            sent += 1
    return sent


def reminder_email(reminder: Reminder) -> tuple[str, str]:
    """Subject and body, Chinese first then English (templates/reminders/email/)."""
    case = reminder.case
    context: dict[str, Any] = {
        "reminder": reminder,
        "case": case,
        "stage_zh": State(reminder.stage).label,
        "stage_en": reminder.stage.replace("_", " "),
        "due_at": timezone.localtime(reminder.due_at),
        "site_url": settings.SITE_URL,
    }
    subject = render_to_string("reminders/email/reminder_subject.txt", context).strip()
    body = (
        render_to_string("reminders/email/reminder.zh.txt", context).strip()
        + "\n\n----------------------------------------\n\n"
        + render_to_string("reminders/email/reminder.en.txt", context).strip()
        + "\n"
    )
    return subject, body


# --- in-app notices ----------------------------------------------------------------------------


def notifications_mark_read(*, user: Any, ids: list[int] | None = None) -> int:
    """Mark the user's notices read (all of them when `ids` is None); others' notices are untouched."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
