"""Two people act on the same case at the same moment: exactly one wins."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from onboarding import services
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.states import State
from tests.factories import World

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(case, attempts):
    """Run each (user, name, reason) in its own thread, released together."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[object] = [None] * len(attempts)

    def run(i, user, name, reason):
        try:
            barrier.wait()
            # Each thread loads the case as its own page would have shown it.
            mine = OnboardingCase.objects.get(pk=case.pk)
            outcomes[i] = services.case_transition(
                case=mine, user=user, name=name, reason=reason, expected_version=case.version
            )
        except services.CaseError as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, *a)) for i, a in enumerate(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_two_approvers_at_once_one_wins_one_conflict_one_event():
    assert connection.vendor == "postgresql"
    world = World()
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    outcomes = _race(
        case,
        [(world.supervisor, "endorse", ""), (world.approver, "reject", "同时操作")],
    )
    wins = [o for o in outcomes if isinstance(o, OnboardingCase)]
    conflicts = [o for o in outcomes if isinstance(o, services.CaseConflict)]
    assert len(wins) == 1 and len(conflicts) == 1, outcomes
    assert "案件已被他人更新" in conflicts[0].message and isinstance(conflicts[0], services.CaseConflict)
    events = CaseEvent.objects.filter(case=case, kind="transition", name__in=["endorse", "reject"])
    assert events.count() == 1
    assert OnboardingCase.objects.get(pk=case.pk).version == case.version + 1


def test_the_same_transition_twice_at_once_happens_once():
    world = World()
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    outcomes = _race(case, [(world.supervisor, "endorse", ""), (world.supervisor, "endorse", "")])
    assert sum(isinstance(o, OnboardingCase) for o in outcomes) == 1
    assert CaseEvent.objects.filter(case=case, name="endorse").count() == 1
    assert case.approvals.count() == 1


def test_two_writes_of_different_kinds_from_the_same_page_at_once_one_wins():
    """An edit and a test result posted at the same moment from pages showing the same version."""
    world = World()
    case = world.case(State.JOINT_TESTING)
    seen = case.version
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def edit_note(i: int) -> None:
        try:
            barrier.wait()
            mine = OnboardingCase.objects.get(pk=case.pk)
            outcomes[i] = services.test_result_record(
                case=mine, user=world.customer_x, module="account_query", test_case="balance", passed=True,
                evidence=f"流水{i}", expected_version=seen,
            )  # fmt: skip
        except services.CaseError as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=edit_note, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(isinstance(o, services.CaseConflict) for o in outcomes) == 1, outcomes
    assert case.test_results.count() == 1
    assert OnboardingCase.objects.get(pk=case.pk).version == seen + 1
