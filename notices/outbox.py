"""The mail channel: queue in the writer's transaction, sent by the delivery kernel's workers.

Apps add a renderer per kind (`@renderers.add(key="reminder")`) from their `AppConfig.ready()`;
a renderer takes the row and returns (subject, body). Sending, retries with back-off, giving
up, the flush (beat entry `delivery-mail`) and the admin page are the kernel's
(`delivery.channels`); this module says only how one mail is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.utils.translation import gettext_lazy as _

from casetypes.extensions import ExtensionPoint
from delivery.channels import Channel, DeliveryFailed, deliver, dispatch, flush, register

from .models import OutboxEmail

Renderer = Callable[[OutboxEmail], tuple[str, str]]
renderers: ExtensionPoint[Renderer] = ExtensionPoint(
    "notices.mail_renderers",
    "how a mail of each kind is written: (subject, body) from its outbox row",
    unique_keys=True,
)

_suppressed = False


class suppressed:
    """Seed data replays weeks of history; nobody should be mailed about it."""

    def __enter__(self) -> None:
        global _suppressed
        _suppressed = True

    def __exit__(self, *exc: object) -> None:
        global _suppressed
        _suppressed = False


def is_suppressed() -> bool:
    return _suppressed


def message_id(row: OutboxEmail) -> str:
    """The Message-ID of the row's mail, the same at every attempt.

    A worker lost after the mail server accepted a mail and before the row was marked sent (killed,
    or its database connection cut) sends the row again: with the same Message-ID, as a webhook
    goes again under its `webhook-id`, so the second copy is recognisably the same message (mail
    systems that deduplicate by Message-ID show it once)."""
    return f"<outbox.{row.pk}.{row.created_at:%Y%m%d%H%M%S}@{DNS_NAME}>"


def send_mail(subject: str, body: str, to: list[str], *, message_id: str) -> None:
    EmailMessage(subject, body, None, to, headers={"Message-ID": message_id}).send()


@register
class MailChannel(Channel):
    key = "mail"
    label = _("邮件")
    model = OutboxEmail
    # Ten attempts over about a day: 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h.
    retry_schedule = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200)
    flush_seconds_setting = "OUTBOX_FLUSH_SECONDS"
    # A mail younger than this may still be with the worker its commit queued.
    flush_grace = dt.timedelta(seconds=settings.OUTBOX_FLUSH_GRACE_SECONDS)
    # A secret (an invitation link's token) is dropped from the payload in the update that marks it sent.
    also_save = ("payload",)

    def send(self, row: OutboxEmail, now: dt.datetime) -> None:
        render = renderers.one(row.kind)
        if render is None:
            raise DeliveryFailed(f"no renderer for kind {row.kind!r}")
        subject, body = render(row)
        try:
            send_mail(subject, body, row.to, message_id=message_id(row))
        except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        row.payload = {k: v for k, v in row.payload.items() if k != "secret"}

    def describe(self, row: OutboxEmail) -> str:
        return f"{row.kind} {row.key} → {', '.join(row.to)}"


@renderers.add(key="rendered")
def _render_prerendered(row: OutboxEmail) -> tuple[str, str]:
    """A mail rendered by its writer (allauth's): subject and body travel in the row."""
    return row.payload["subject"], row.payload["secret"]


def email_queue(*, kind: str, key: str, to: Iterable[str], payload: dict[str, Any]) -> OutboxEmail | None:
    """Add one mail to the outbox in the current transaction; sent after commit (or by the flush)."""
    recipients = sorted({address for address in to if address})
    if not recipients or _suppressed:
        return None
    row, created = OutboxEmail.objects.get_or_create(
        key=key, defaults={"kind": kind, "payload": payload, "to": recipients}
    )
    if created:
        deliver(MailChannel, [row.pk])
    return row


def outbox_dispatch(*, ids: Sequence[int]) -> None:
    """Hand committed outbox rows to the workers now (the sweep's bulk-written mail)."""
    if not _suppressed and ids:
        dispatch(MailChannel.key, list(ids))


def outbox_flush(*, now: dt.datetime | None = None) -> int:
    """Queue mail that is due: left unsent by a broker that was down or a lost worker, or a retry."""
    return flush(MailChannel, now=now)


def outbox_send(*, ids: Sequence[int]) -> int:
    """Send the rows among `ids` that nobody has sent yet (what the worker runs); returns how many."""
    return MailChannel().send_ids(ids)


@renderers.add(key="notice")
def _render_notice(row: OutboxEmail) -> tuple[str, str]:
    """A notice's mail: the notice in Chinese then English (`notices.kinds`), with the page's link."""
    from django.conf import settings

    from .kinds import bilingual, render_in

    p = row.payload
    kind, params, text = p.get("kind", ""), p.get("params") or {}, p.get("text", "")
    subject = render_in("zh-hans", kind, params, text).splitlines()[0][:120]
    body = bilingual(kind, params, text)
    if p.get("path"):
        body += f"\n\n{settings.SITE_URL}{p['path']}"
    return subject, body + "\n"


def notice_mail(*, key: str, to: Iterable[str], kind: str, params: dict[str, Any], path: str = "") -> None:
    """Queue the mail of a notice of `kind` (rendered from its parameters when sent)."""
    from .kinds import render_in

    text = render_in("zh-hans", kind, params)
    email_queue(kind="notice", key=key, to=to, payload={"kind": kind, "params": params, "text": text, "path": path})
