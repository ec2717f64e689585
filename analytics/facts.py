"""Stage visits turned into `VisitFact` rows: working time on the SLA calendar, by holder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from casetypes import declaration
from casetypes.declaration import Feature

from . import calendar as workcal
from .models import VisitFact
from .sources import WORKING_STAGES, CaseHistory, OnboardingCase, Party, histories


def modules_key(modules: Iterable[str]) -> str:
    return "+".join(sorted(set(modules)))


def tier1_of(path: str) -> int:
    """The id of the tier-1 branch on a materialised path ("/1/4/9/" → 4; head office "/1/" → 1)."""
    parts = [p for p in path.split("/") if p]
    return int(parts[1] if len(parts) > 1 else parts[0])


class _Clock:
    """Working seconds between two moments, suspensions excluded."""

    def __init__(self, cal: workcal.WorkCalendar, pauses: list[tuple[dt.datetime, dt.datetime]]) -> None:
        self.cal, self.pauses = cal, pauses

    def worked(self, a: dt.datetime, b: dt.datetime) -> int:
        if b <= a:
            return 0
        total = self.cal.working_seconds(a, b)
        for p0, p1 in self.pauses:
            lo, hi = max(a, p0), min(b, p1)
            if hi > lo:
                total -= self.cal.working_seconds(lo, hi)
        return max(total, 0)


def facts_for(h: CaseHistory, *, cal: workcal.WorkCalendar, sla: dict[str, int], now: dt.datetime) -> list[VisitFact]:
    case = h.case
    clock = _Clock(cal, h.pauses(now))
    # The transition that ended a visit carries the visit's left_at as its time.
    leaving = {(at, f): (name, actor) for at, name, f, _t, actor in h.transitions if name not in ("suspend", "resume")}
    seen: set[str] = set()
    starts = declaration.states_with(Feature.STARTS_CLOCK)
    started = next((v.entered_at for v in h.visits if v.stage in starts), None)
    paused = declaration.paused_states()
    out = []
    for v in h.visits:
        if v.stage not in WORKING_STAGES:
            continue
        end = v.left_at or now
        work = clock.worked(v.entered_at, end)
        split = _customer_until(h, v.stage, v.entered_at, end, v.left_at is None, v.holder_party)
        if split is None:
            bank, customer = (work, 0) if v.holder_party == Party.BANK else (0, work)
        else:
            customer = clock.worked(v.entered_at, split)
            bank = work - customer
        # A suspended case that is withdrawn leaves from "suspended".
        name, actor = (
            leaving.get((v.left_at, v.stage))
            or next((leaving[(v.left_at, p)] for p in paused if (v.left_at, p) in leaving), None)
            or ("", None)
            if v.left_at
            else ("", None)
        )
        days = sla.get(v.stage)
        tenths = round(work * 10 / workcal.DAY)
        out.append(
            VisitFact(
                visit_id=v.pk,
                case_id=case.pk,
                stage=v.stage,
                branch_id=case.branch_id,
                branch_path=case.branch.path,
                tier1_id=tier1_of(case.branch.path),
                modules_key=modules_key(case.modules),
                closed_by_id=actor,
                closed_with=name,
                entered_at=v.entered_at,
                left_at=v.left_at,
                first_visit=v.stage not in seen,
                case_started_at=started,
                retests=sum(1 for t in h.retests if v.entered_at <= t <= end),
                holder_party=v.holder_party,
                work_seconds=work,
                bank_seconds=bank,
                customer_seconds=customer,
                tenths=tenths,
                sla_days=days,
                within_sla=(work <= days * workcal.DAY) if (days and v.left_at) else None,
                refreshed_at=now,
            )
        )
        seen.add(v.stage)
    return out


def _customer_until(
    h: CaseHistory, stage: str, start: dt.datetime, end: dt.datetime, is_open: bool, holder: str
) -> dt.datetime | None:
    """Where, inside a visit, the ball passed from the customer to the bank (None: one holder throughout).

    Joint testing: the customer tests until its last recorded result (every case passed), the
    tech reviewer then accepts. Production verification: the customer until it confirms.
    """
    if stage in declaration.states_with(Feature.JOINT_TESTS):
        if is_open and holder == Party.CUSTOMER:
            return None
        inside = [t for t in h.test_results if start <= t <= end]
        return inside[-1] if inside else (None if is_open else end)
    if stage in declaration.states_with(Feature.CUSTOMER_CONFIRMATION):
        confirmed = h.case.customer_confirmed_at
        if confirmed and start <= confirmed <= end:
            return confirmed
        return None
    return None


def facts_refresh(*, case_ids: Iterable[int], now: dt.datetime | None = None, batch: int = 2000) -> int:
    """Recompute the facts of these cases (a constant number of queries per batch)."""
    now = now or timezone.now()
    ids = list(case_ids)
    sla = workcal.sla_map()
    made = 0
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        hs = histories(chunk)
        starts = [v.entered_at for h in hs for v in h.visits]
        cal = workcal.calendar_for(min(starts, default=now), now)
        rows = [f for h in hs for f in facts_for(h, cal=cal, sla=sla, now=now)]
        with transaction.atomic():
            VisitFact.objects.filter(case_id__in=chunk).delete()
            VisitFact.objects.bulk_create(rows, batch_size=5000)
        made += len(rows)
    return made


def facts_rebuild(*, now: dt.datetime | None = None) -> int:
    ids = list(OnboardingCase.objects.order_by("pk").values_list("pk", flat=True))
    VisitFact.objects.exclude(case_id__in=OnboardingCase.objects.values("pk")).delete()
    return facts_refresh(case_ids=ids, now=now)


def facts_refresh_open(*, now: dt.datetime | None = None) -> int:
    """Bring the running time of open visits up to now (nightly)."""
    ids = VisitFact.objects.filter(left_at__isnull=True).values_list("case_id", flat=True).distinct()
    return facts_refresh(case_ids=list(ids), now=now)
