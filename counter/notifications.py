"""A counter entry waits for a checker of the same outlet (not its maker): tell them, once.

Written in the maker's transaction: an in-app notice for each checker and one mail through
the outbox (`notices.outbox`), keyed by the entry so that it is queued once whatever happens.
When a checker confirms it the maker is told (notice and mail) and the checkers' notices of it
clear; when the maker cancels it they clear too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from branches.roles import Role
from notices import kinds, outbox
from notices.models import MailKind, OutboxEmail
from notices.preferences import mail_addresses
from notices.services import notices_clear, notices_create
from onboarding.notifications import case_params, role_in_case_branches, tell

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
    params = {**case_params(case), "entry": entry.pk, "entry_kind": entry.kind, "maker": str(entry.maker)}
    notices_create(recipients=people, case_id=case.pk, kind=COUNTER_CHECK, params=params)
    outbox.email_queue(
        kind="counter_check",
        key=f"counter-entry:{entry.pk}",
        to=mail_addresses(people, MailKind.COUNTER_CHECK),
        payload={"entry": entry.pk},
    )


COUNTER_CHECK = "counter_check"
COUNTER_CONFIRMED = "counter_confirmed"


def _kind_label(code: str) -> str:
    return str(CounterEntry.Kind(code).label) if code in CounterEntry.Kind.values else code


@kinds.renderers.add(key=COUNTER_CHECK)
def render_counter_check(p: dict[str, Any]) -> str:
    return _("%(ref)s %(company)s:%(kind)s待您复核(录入人:%(maker)s)") % {
        "ref": p["ref"],
        "company": p["company"],
        "kind": _kind_label(p["entry_kind"]),
        "maker": p["maker"],
    }


@kinds.renderers.add(key=COUNTER_CONFIRMED)
def render_counter_confirmed(p: dict[str, Any]) -> str:
    return _("%(ref)s %(company)s:您录入的%(kind)s已由%(checker)s复核生效") % {
        "ref": p["ref"],
        "company": p["company"],
        "kind": _kind_label(p["entry_kind"]),
        "checker": p["checker"],
    }


def entry_confirmed(*, case: OnboardingCase, entry: CounterEntry, checker: User) -> None:
    """The checker confirmed `entry`: the checkers' notices of it clear, its maker is told."""
    notices_clear(case_id=case.pk, kinds=[COUNTER_CHECK], about={"entry": entry.pk})
    params = {**case_params(case), "entry": entry.pk, "entry_kind": entry.kind, "checker": str(checker)}
    maker = [entry.maker] if entry.maker.is_active and entry.maker_id != checker.pk else []
    tell(
        case=case,
        people=maker,
        kind=COUNTER_CONFIRMED,
        params=params,
        key=f"counter-confirmed:{entry.pk}",
        mail_kind=MailKind.COUNTER_CHECK,
    )


def entry_cancelled(*, case: OnboardingCase, entry: CounterEntry) -> None:
    """The maker withdrew `entry`: nothing is left for the checkers to do about it."""
    notices_clear(case_id=case.pk, kinds=[COUNTER_CHECK], about={"entry": entry.pk})


@outbox.renderers.add(key="counter_check")
def render_counter_check_mail(row: OutboxEmail) -> tuple[str, str]:
    entry = CounterEntry.objects.select_related("case__enterprise", "maker").get(pk=row.payload["entry"])
    context: dict[str, Any] = {"entry": entry, "case": entry.case, "site_url": settings.SITE_URL}
    subject = render_to_string("email/counter_check_subject.txt", context).strip()
    return subject, render_to_string("email/counter_check.txt", context)
