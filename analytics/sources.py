"""Everything analytics reads from the onboarding app, in one place.

The onboarding models, services and event names are being reshaped; keeping every read of
them here means such a change touches one module of this app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from casetypes import declaration
from companies.models import ACCOUNT_FIELDS, DATA_FIELDS, CompanyVersion, Enterprise, SettlementAccount
from companies.validators import resident_id_check_char, uscc_check_char
from onboarding.models import CaseEvent, OnboardingCase, StageVisit
from onboarding.states import OPEN_STATES, STAGE_HOLDER, TERMINAL_STATES, WORKING_STAGES, Module, Party, State

__all__ = [
    "ACCOUNT_FIELDS",
    "DATA_FIELDS",
    "OPEN_STATES",
    "STAGE_HOLDER",
    "TERMINAL_STATES",
    "WORKING_STAGES",
    "CaseEvent",
    "CaseHistory",
    "CompanyVersion",
    "Enterprise",
    "Module",
    "OnboardingCase",
    "Party",
    "SettlementAccount",
    "StageVisit",
    "State",
    "histories",
    "resident_id_check_char",
    "transition_label",
    "uscc_check_char",
]

# Transition names that stand for rework, and the record that asks for a re-test.
RETURN_TRANSITIONS = ("return_to_intake", "return_to_test_package")
# Where each transition that ends a stage visit leads, read from every declared case type's
# transitions (not those that stay in the stage, nor suspending and resuming).
TRANSITION_TARGET = declaration.TransitionTargets()
RETEST_RECORD = "retest_requested"
TEST_RESULT_RECORD = "test_result"


def transition_label(name: str) -> str:
    """The label a transition carries on the state machine (its button), whatever module holds it."""
    for t in OnboardingCase._meta.get_field("state").get_all_transitions(OnboardingCase):  # type: ignore[attr-defined]
        if t.name == name:
            return str(t.custom.get("label", name))
    return name


@dataclass
class CaseHistory:
    """What the figures need of one case: its visits, transitions and pause spans."""

    case: OnboardingCase
    visits: list[StageVisit] = field(default_factory=list)
    transitions: list[tuple[dt.datetime, str, str, str, int | None]] = field(default_factory=list)
    test_results: list[dt.datetime] = field(default_factory=list)
    retests: list[dt.datetime] = field(default_factory=list)

    def pauses(self, now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        spans, start = [], None
        for at, name, _f, _t, _a in self.transitions:
            if name == "suspend":
                start = at
            elif name == "resume" and start is not None:
                spans.append((start, at))
                start = None
        if start is not None:
            spans.append((start, now))
        return spans


def histories(case_ids: Iterable[int]) -> list[CaseHistory]:
    """The histories of the given cases in three queries, whatever their number."""
    ids = list(case_ids)
    cases = {c.pk: CaseHistory(case=c) for c in OnboardingCase.objects.filter(pk__in=ids).select_related("branch")}
    for v in StageVisit.objects.filter(case_id__in=ids).order_by("entered_at", "pk"):
        cases[v.case_id].visits.append(v)
    rows: Any = (
        CaseEvent.objects.filter(case_id__in=ids, kind=CaseEvent.Kind.TRANSITION)
        .order_by("created_at", "pk")
        .values_list("case_id", "created_at", "name", "from_state", "to_state", "actor_id")
    )
    for case_id, at, name, f, t, actor in rows:
        cases[case_id].transitions.append((at, name, f, t, actor))
    for case_id, name, at in (
        CaseEvent.objects.filter(
            case_id__in=ids, kind=CaseEvent.Kind.RECORD, name__in=(TEST_RESULT_RECORD, RETEST_RECORD)
        )
        .order_by("created_at", "pk")
        .values_list("case_id", "name", "created_at")
    ):
        (cases[case_id].test_results if name == TEST_RESULT_RECORD else cases[case_id].retests).append(at)
    return list(cases.values())
