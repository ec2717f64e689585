"""A small, fixed history written straight into stage visits and events, for hand-checked figures.

March 2025 has no public holiday, so a working day is simply Monday–Friday. Times are Shanghai.

C1 (branch A, tier-1 T1): intake 3 Mar 09:00–5 Mar 09:00 (2.0) · approval 5–12 Mar (5.0, approved)
   · test package 12 Mar 09:00–14 Mar 21:00, suspended 13 Mar 09:00–14 Mar 09:00 (2.5 − 1.0 = 1.5)
   · joint testing 14 Mar 21:00–21 Mar 21:00 (5.0; results 17 Mar, 19 Mar 21:00 → customer 3.0, bank 2.0;
     a retest asked for on 18 Mar) · UKey issuance from 21 Mar 21:00 (open)
C2 (branch A): intake 3–10 Mar (5.0) · approval 10–11 Mar (1.0, returned by the supervisor)
   · intake again 11–12 Mar (1.0) · approval 12–19 Mar (5.0, approved) · test package from 19 Mar (open)
C3 (branch B, tier-1 T2): intake 4 Mar 09:00–14 Mar 09:00 (8.0 over a weekend) · approval from 14 Mar (open)
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from onboarding.models import CaseEvent, OnboardingCase, StageVisit
from onboarding.states import STAGE_HOLDER, State

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 3, 26, 9, 0, tzinfo=SH)
MODULES = ["account_query", "reconciliation"]


def at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, 0, tzinfo=SH)


def build_case(
    w: Any,
    *,
    ref: str,
    company: Any,
    state: str,
    visits: list[tuple[str, dt.datetime, dt.datetime | None, str]],
    events: list[tuple[str, str, str, str, dt.datetime, Any]],
    target_date: dt.date | None = None,
) -> OnboardingCase:
    """visits: (stage, entered, left, holder party); events: (kind, name, from, to, at, actor)."""
    case = OnboardingCase.objects.create(
        reference=ref,
        enterprise=company,
        branch=company.branch,
        account_manager=w.am_a,
        modules=MODULES,
        state=state,
        created_by=w.am_a,
        created_at=visits[0][1] - dt.timedelta(days=1),
        target_date=target_date,
    )
    last = None
    for stage, entered, left, party in visits:
        last = StageVisit.objects.create(
            case=case,
            stage=stage,
            entered_at=entered,
            left_at=left,
            holder_party=party,
            holder_role=STAGE_HOLDER[stage][1],
        )
    for kind, name, source, target, when, actor in events:
        CaseEvent.objects.create(
            case=case, kind=kind, name=name, from_state=source, to_state=target, created_at=when, actor=actor
        )
    OnboardingCase.objects.filter(pk=case.pk).update(current_visit=last)
    case.refresh_from_db()
    return case


T, R = CaseEvent.Kind.TRANSITION, CaseEvent.Kind.RECORD
IN, A, P, J, U = (
    State.BRANCH_INTAKE,
    State.HEAD_OFFICE_APPROVAL,
    State.TEST_PACKAGE_ISSUANCE,
    State.JOINT_TESTING,
    State.UKEY_ISSUANCE,
)


def build(w: Any) -> dict[str, OnboardingCase]:
    c1 = build_case(
        w,
        ref="H-1",
        company=w.company_x,
        state=U,
        target_date=dt.date(2025, 3, 28),
        visits=[
            (IN, at(3), at(5), "bank"),
            (A, at(5), at(12), "bank"),
            (P, at(12), at(14, 21), "bank"),
            (J, at(14, 21), at(21, 21), "bank"),
            (U, at(21, 21), None, "bank"),
        ],
        events=[
            (T, "submit_for_approval", IN, A, at(5), w.am_a),
            (T, "endorse", A, A, at(7), w.supervisor),
            (T, "approve", A, P, at(12), w.approver),
            (T, "suspend", P, State.SUSPENDED, at(13), w.am_a),
            (T, "resume", State.SUSPENDED, P, at(14), w.am_a),
            (T, "issue_test_package", P, J, at(14, 21), w.tech),
            (R, "test_result", "", "", at(17), w.customer_x),
            (R, "retest_requested", "", "", at(18), w.tech),
            (R, "test_result", "", "", at(19, 21), w.customer_x),
            (T, "accept_test_report", J, U, at(21, 21), w.tech),
        ],
    )
    c2 = build_case(
        w,
        ref="H-2",
        company=w.company_x,
        state=P,
        visits=[
            (IN, at(3), at(10), "bank"),
            (A, at(10), at(11), "bank"),
            (IN, at(11), at(12), "bank"),
            (A, at(12), at(19), "bank"),
            (P, at(19), None, "bank"),
        ],
        events=[
            (T, "submit_for_approval", IN, A, at(10), w.am_a),
            (T, "return_to_intake", A, IN, at(11), w.supervisor),
            (T, "submit_for_approval", IN, A, at(12), w.am_a),
            (T, "approve", A, P, at(19), w.approver),
        ],
    )
    c3 = build_case(
        w,
        ref="H-3",
        company=w.company_y,
        state=A,
        visits=[(IN, at(4), at(14), "bank"), (A, at(14), None, "bank")],
        events=[(T, "submit_for_approval", IN, A, at(14), w.am_b)],
    )
    return {"c1": c1, "c2": c2, "c3": c3}
