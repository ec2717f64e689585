"""Other channels (a WeCom group robot) hear of every notice through one extension point.

The writers of notices (a transition's hand-off, the reminder sweep) call `announce` in their
own transaction with one `Announcement` per notice; the apps that carry notices elsewhere add a
listener to `listeners` from their `AppConfig.ready()` and write their own delivery rows in
that same transaction. So this app knows no channel, and a channel needs no hook in each writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from casetypes.extensions import ExtensionPoint

from .outbox import is_suppressed


class AnnouncementKind:
    HANDOFF = "handoff"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    HEAD_OFFICE_ESCALATION = "head_office_escalation"


class Announcement(NamedTuple):
    """One notice about one case. `key` is unique per notice ("event:12", "reminder:7").

    A named tuple rather than a frozen dataclass: the sweep makes 100,000s at once, and a
    tuple is built in a fraction of the time (bench/sweep.py).
    """

    key: str
    kind: str
    case_id: int
    text: str
    # Head office is concerned (a 总行督办, or the case now waits on a head-office role).
    head_office: bool = False


Listener = Callable[[Sequence[Announcement]], None]
listeners: ExtensionPoint[Listener] = ExtensionPoint(
    "notices.announce_listeners",
    "channels that carry every notice elsewhere (WeCom), called in the writer's transaction",
)


def announce(items: Sequence[Announcement]) -> None:
    """Hand the notices to every channel, in the caller's transaction (a rollback takes them back)."""
    if not items or is_suppressed():
        return
    for listener in listeners:
        listener(items)
