"""What links hears of the case events (an `onboarding.events.listeners` entry, from `ready()`).

- An onboarding case entering a live end: its live link is created from the approved data.
- A request case entering an end state: its `LinkRequest` closes.
Both run in the writer's transaction: if creating the link fails, the go-live fails too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from casetypes import declaration

if TYPE_CHECKING:
    from onboarding.models import CaseEvent


def case_event_heard(event: CaseEvent) -> None:
    if event.kind != event.Kind.TRANSITION or not event.to_state:
        return
    from . import services
    from .requests import REQUEST_TYPES

    case = event.case
    case_type = declaration.case_type_of(case)
    if case_type.code in {t.code for t in REQUEST_TYPES}:
        services.request_close_if_ended(case, actor=event.actor, reason=event.reason)
    elif event.to_state in case_type.live_states:
        services.link_create_from_case(case=case, actor=event.actor)
