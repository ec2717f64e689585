"""A counter entry waits for a checker of the same outlet (not its maker): tell them, once.

Written in the maker's transaction: an in-app notice for each checker and one mail through
the outbox (`notices.outbox`), keyed by the entry so that it is queued once whatever happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from branches.roles import Role
from notices import outbox
from notices.models import MailKind, OutboxEmail
from notices.preferences import mail_addresses
from notices.services import notices_create
from onboarding.notifications import role_in_case_branches

from .models import CounterEntry

if TYPE_CHECKING:
    from accounts.models import User
    from onboarding.models import OnboardingCase


def checkers_for(entry: CounterEntry) -> list[User]:
    """The counter checkers of the case's outlet (and above it), never the entry's maker."""
    return [p for p in role_in_case_branches(entry.case, Role.COUNTER_CHECKER) if p.pk != entry.maker_id]


def entry_awaiting_check(*, case: OnboardingCase, entry: CounterEntry) -> None:
    """Tell the checkers that `entry` waits for their confirmation."""
    people = checkers_for(entry)
    text = _("%(ref)s %(company)s:%(kind)s待您复核(录入人:%(maker)s)") % {
        "ref": case.reference,
        "company": case.enterprise.name,
        "kind": entry.get_kind_display(),
        "maker": entry.maker,
    }
    notices_create(recipients=people, case_id=case.pk, kind="counter_check", text=text)
    outbox.email_queue(
        kind="counter_check",
        key=f"counter-entry:{entry.pk}",
        to=mail_addresses(people, MailKind.COUNTER_CHECK),
        payload={"entry": entry.pk},
    )


@outbox.renderers.add(key="counter_check")
def render_counter_check(row: OutboxEmail) -> tuple[str, str]:
    entry = CounterEntry.objects.select_related("case__enterprise", "maker").get(pk=row.payload["entry"])
    context: dict[str, Any] = {"entry": entry, "case": entry.case, "site_url": settings.SITE_URL}
    subject = render_to_string("email/counter_check_subject.txt", context).strip()
    return subject, render_to_string("email/counter_check.txt", context)
