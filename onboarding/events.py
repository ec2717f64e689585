"""The vocabulary of a case's history: every event name, its label, and one function per event.

Every app records case events through these functions (the way Saleor's `order/events.py`
does it), so the timeline, the audit log and the analytics read one list of names. A write
that changes a case records exactly one event inside `services.case_write`; reads (a
download, a view) record theirs outside it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from casetypes.extensions import ExtensionPoint

from .event_names import REMINDER_EVENTS, TRANSITION_EVENTS, EventName, label  # noqa: F401
from .models import CaseEvent

if TYPE_CHECKING:
    from accounts.models import User

    from .models import OnboardingCase

Kind = CaseEvent.Kind


class TransitionName(str):
    """The name of a transition of a case type declared outside the vocabulary."""

    @property
    def value(self) -> str:
        return str(self)


# The write (`services.case_write`) that is collecting the events of its change, if any.
_collector: contextvars.ContextVar[list[CaseEvent] | None] = contextvars.ContextVar("case_events", default=None)
# Apps that act on every event in its transaction (webhooks queue their outbox rows) add a
# listener from their `ready()`: ``events.listeners.add(fn)``; for the events a bulk writer
# inserted without `_write` (the reminder sweep): ``events.bulk_listeners.add(fn)``.
listeners: ExtensionPoint[Callable[[CaseEvent], None]] = ExtensionPoint(
    "onboarding.event_listeners", "hears each case event as it is written, in its transaction"
)
bulk_listeners: ExtensionPoint[Callable[[Iterable[CaseEvent]], None]] = ExtensionPoint(
    "onboarding.bulk_event_listeners", "hears the events of a bulk insert (the reminder sweep)"
)


# What other apps add to an event's data as it is written, from their `ready()`:
# ``events.data_contributors.add(fn)``, `fn(case, actor)` returning a dict (empty for nothing).
# `people` names the absent colleague a substitute acts for ("代 X 办理"), so the record keeps both.
data_contributors: ExtensionPoint[Callable[[Any, Any], dict[str, Any]]] = ExtensionPoint(
    "onboarding.event_data", "adds to each case event's data as it is written (e.g. on whose behalf)"
)


def bulk_written(events: Iterable[CaseEvent]) -> None:
    """A bulk writer's events, in its transaction (a lazy queryset: a listener with nothing to do reads nothing)."""
    for listener in bulk_listeners:
        listener(events)


def _write(
    *,
    case: OnboardingCase,
    actor: User | None,
    kind: str,
    name: EventName,
    data: dict[str, Any] | None = None,
    reason: str = "",
    from_state: str = "",
    to_state: str = "",
    created_at: dt.datetime | None = None,
) -> CaseEvent:
    extra = {"created_at": created_at} if created_at is not None else {}
    data = dict(data or {})
    if actor is not None:
        for contributor in data_contributors:
            data.update(contributor(case, actor))
    event = CaseEvent.objects.create(
        case=case,
        kind=kind,
        name=name.value,
        actor=actor,
        data=data,
        reason=reason,
        from_state=from_state,
        to_state=to_state,
        **extra,
    )
    collected = _collector.get()
    if collected is not None:
        collected.append(event)
    for listener in listeners:
        listener(event)
    return event


# --- the case ---------------------------------------------------------------------------------


def case_created(*, case: OnboardingCase, actor: User, company_version: int, sweep: str = "") -> CaseEvent:
    """`sweep`: a system check opened the case in `actor`'s name; the event is the system's (no
    actor), naming the check and whose case it is (the timeline: "系统(证书到期检查) 创建案件")."""
    data: dict[str, Any] = {"company_version": company_version}
    if sweep:
        data.update(sweep=sweep, owner_name=str(actor))
        return _write(case=case, actor=None, kind=Kind.CREATED, name=EventName.CASE_CREATED, data=data)
    return _write(case=case, actor=actor, kind=Kind.CREATED, name=EventName.CASE_CREATED, data=data)


def case_edited(
    *, case: OnboardingCase, actor: User, changed: dict[str, list[str]], company: dict[str, Any]
) -> CaseEvent:
    """An edit in draft or intake: the case's own fields, and the company data it moved to (with the difference)."""
    data: dict[str, Any] = {"changed": changed}
    if company:
        data.update(company)
    return _write(case=case, actor=actor, kind=Kind.EDITED, name=EventName.CASE_EDITED, data=data)


def transition_made(
    *,
    case: OnboardingCase,
    actor: User,
    name: str,
    from_state: str,
    to_state: str,
    reason: str,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """A transition; `data` carries what its effects changed beyond the state (e.g. the company version).

    Onboarding's transitions are in the vocabulary; another declared case type's are named as
    its transitions are (their label is the transition's own, `event_names.label`)."""
    event_name: Any = EventName(name) if name in EventName.values else TransitionName(name)
    assert event_name in TRANSITION_EVENTS or name not in EventName.values, name
    return _write(
        case=case,
        actor=actor,
        kind=Kind.TRANSITION,
        name=event_name,
        data=data,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
    )


# --- stage records ----------------------------------------------------------------------------


def test_package_recorded(*, case: OnboardingCase, actor: User, values: dict[str, str]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.TEST_PACKAGE, data=values)


def test_results_recorded(*, case: OnboardingCase, actor: User, results: list[dict[str, Any]]) -> CaseEvent:
    """One event for one save of joint-test results (one or many test cases)."""
    data: dict[str, Any] = results[0] if len(results) == 1 else {"results": results}
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.TEST_RESULT, data=data)


def test_observed(*, case: OnboardingCase, actor: User, observations: list[dict[str, Any]]) -> CaseEvent:
    """The bank's test gateway posted the test transactions it saw (one event per post)."""
    return _write(
        case=case, actor=actor, kind=Kind.RECORD, name=EventName.TEST_OBSERVED, data={"observations": observations}
    )


def retest_requested(*, case: OnboardingCase, actor: User, items: list[str], reason: str) -> CaseEvent:
    return _write(
        case=case, actor=actor, kind=Kind.RECORD, name=EventName.RETEST_REQUESTED, data={"items": items}, reason=reason
    )


def production_config_issued(*, case: OnboardingCase, actor: User, values: dict[str, str]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.PRODUCTION_CONFIG, data=values)


def customer_confirmed(*, case: OnboardingCase, actor: User) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.CUSTOMER_CONFIRMED)


# --- company data -------------------------------------------------------------------------------


def company_version_adopted(*, case: OnboardingCase, actor: User | None, data: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.EDITED, name=EventName.COMPANY_VERSION_ADOPTED, data=data)


def change_request_filed(*, case: OnboardingCase, actor: User, data: dict[str, Any], reason: str) -> CaseEvent:
    return _write(
        case=case, actor=actor, kind=Kind.EDITED, name=EventName.CHANGE_REQUEST_FILED, data=data, reason=reason
    )


def change_request_approved(*, case: OnboardingCase, actor: User, data: dict[str, Any], reason: str) -> CaseEvent:
    return _write(
        case=case, actor=actor, kind=Kind.EDITED, name=EventName.CHANGE_REQUEST_APPROVED, data=data, reason=reason
    )


def change_request_refused(*, case: OnboardingCase, actor: User, data: dict[str, Any], reason: str) -> CaseEvent:
    return _write(
        case=case, actor=actor, kind=Kind.EDITED, name=EventName.CHANGE_REQUEST_REFUSED, data=data, reason=reason
    )


# --- documents: `data` names the document kind, its label, the version number, id and hash ---------


def document_uploaded(*, case: OnboardingCase, actor: User, data: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.DOCUMENT, name=EventName.DOCUMENT_UPLOAD, data=data)


def document_accepted(*, case: OnboardingCase, actor: User, data: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.DOCUMENT, name=EventName.DOCUMENT_ACCEPT, data=data)


def document_rejected(*, case: OnboardingCase, actor: User, data: dict[str, Any], reason: str) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.DOCUMENT, name=EventName.DOCUMENT_REJECT, data=data, reason=reason)


def document_downloaded(*, case: OnboardingCase, actor: User, data: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.DOCUMENT, name=EventName.DOCUMENT_DOWNLOAD, data=data)


def document_viewed(*, case: OnboardingCase, actor: User, data: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.DOCUMENT, name=EventName.DOCUMENT_VIEW, data=data)


def form_generated(*, case: OnboardingCase, actor: User, data: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.DOCUMENT, name=EventName.FORM_GENERATE, data=data)


# --- the counter ---------------------------------------------------------------------------------


def operator_added(*, case: OnboardingCase, actor: User, operator_id: int, name: str, role: str) -> CaseEvent:
    data = {"operator": operator_id, "name": name, "role": role}
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.OPERATOR_ADDED, data=data)


def operator_removed(*, case: OnboardingCase, actor: User, operator_id: int, name: str, reason: str) -> CaseEvent:
    data = {"operator": operator_id, "name": name}
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.OPERATOR_REMOVED, data=data, reason=reason)


def counter_entry_made(*, case: OnboardingCase, actor: User, entry: dict[str, Any]) -> CaseEvent:
    """A maker's entry (identity check, UKey issuance, certificate activation), waiting for a checker."""
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.COUNTER_ENTRY_MADE, data=entry)


def ukey_replacement_made(*, case: OnboardingCase, actor: User, entry: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.UKEY_REPLACEMENT_MADE, data=entry)


def counter_entry_confirmed(*, case: OnboardingCase, actor: User, entry: dict[str, Any]) -> CaseEvent:
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.COUNTER_ENTRY_CONFIRMED, data=entry)


def counter_entry_cancelled(*, case: OnboardingCase, actor: User, entry: dict[str, Any], reason: str) -> CaseEvent:
    return _write(
        case=case, actor=actor, kind=Kind.RECORD, name=EventName.COUNTER_ENTRY_CANCELLED, data=entry, reason=reason
    )


def case_reassigned(*, case: OnboardingCase, actor: User | None, holder: dict[str, Any], reason: str) -> CaseEvent:
    """The case's account manager changed: `holder` names from whom, to whom (None: the leaver
    queue) and how (a supervisor's reassignment, a leaver's release)."""
    name = EventName.CASE_REASSIGNED if holder.get("to") else EventName.HOLDER_LEFT
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=name, data=holder, reason=reason)


def counter_entry_reassigned(
    *, case: OnboardingCase, actor: User | None, entry: dict[str, Any], reason: str
) -> CaseEvent:
    """Who answers for a pending counter entry on the maker's side changed (from, to, how)."""
    name = EventName.COUNTER_ENTRY_REASSIGNED if entry.get("to") else EventName.HOLDER_LEFT
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=name, data=entry, reason=reason)


def ukey_downloaded(*, case: OnboardingCase, actor: User, ukey_id: int, serial: str) -> CaseEvent:
    data = {"ukey": ukey_id, "serial": serial}
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.UKEY_DOWNLOADED, data=data)


def ukey_lost(*, case: OnboardingCase, actor: User, ukey_id: int, serial: str, reason: str) -> CaseEvent:
    data = {"ukey": ukey_id, "serial": serial}
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.UKEY_LOST, data=data, reason=reason)


def ukey_released(*, case: OnboardingCase, actor: User, ukey_id: int, serial: str, reason: str) -> CaseEvent:
    data = {"ukey": ukey_id, "serial": serial}
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.UKEY_RELEASED, data=data, reason=reason)


def ukey_revoked(*, case: OnboardingCase, actor: User, ukey_id: int, serial: str, reason: str) -> CaseEvent:
    data = {"ukey": ukey_id, "serial": serial}
    return _write(case=case, actor=actor, kind=Kind.RECORD, name=EventName.UKEY_REVOKED, data=data, reason=reason)


# --- the thread -------------------------------------------------------------------------------------


def message_posted(*, case: OnboardingCase, actor: User, message_id: int, from_customer: bool) -> CaseEvent:
    return _write(
        case=case,
        actor=actor,
        kind=Kind.MESSAGE,
        name=EventName.MESSAGE_POSTED,
        data={"message": message_id, "from_customer": from_customer},
    )


# --- bulk import (transfers) -------------------------------------------------------------------------


def stage_imported(
    *, case: OnboardingCase, actor: User, from_state: str, to_state: str, at: dt.datetime, data: dict[str, Any]
) -> CaseEvent:
    """One stage of an imported case's history, dated as the file gave it (`data` names the import)."""
    return _write(
        case=case,
        actor=actor,
        kind=Kind.IMPORTED,
        name=EventName.STAGE_IMPORTED,
        data={**data, "imported": True},
        from_state=from_state,
        to_state=to_state,
        created_at=at,
    )


def case_imported(*, case: OnboardingCase, actor: User, data: dict[str, Any]) -> CaseEvent:
    """The import itself, at the time it was made: who, from which file and row, on which company version."""
    return _write(
        case=case, actor=actor, kind=Kind.IMPORTED, name=EventName.CASE_IMPORTED, data={**data, "imported": True}
    )
