"""Joint-test evidence from the bank's own test gateway (issue 25).

The gateway sees every test transaction a customer's system sends with the test credentials
of a case (the test package's test accounts and test certificate). It posts what it saw
through the API (scope `test_gateway`, `api.views.TestGatewayObservationsView`); each
observation is kept as it came (`GatewayObservation`, append-only, idempotent by the
gateway's trace id). The latest observation of a row of the joint-test matrix fills that row
as "observed by the gateway"; the customer confirms it (one row or all at once) and the
confirmation is an ordinary joint-test result naming the observation, recorded through
`services.test_results_record`, so the stage's guard and hand-off work as for typed results.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import STAFF_ROLES, has_role
from casetypes import declaration
from casetypes.declaration import Feature

from . import events
from .models import GatewayObservation, ModuleTestResult, OnboardingCase, TestPackage, split_accounts
from .selectors import case_visible_q, observations_pending
from .services import CaseError, TestOutcome, case_write, test_results_record
from .terms import TEST_CASES, Module

if TYPE_CHECKING:
    from accounts.models import User


class CredentialsUnknown(CaseError):
    """No case (that the gateway may see) was issued these test credentials."""


class NotInJointTesting(CaseError):
    """The case of these credentials is not in joint testing: nothing is recorded."""


@dataclass(frozen=True)
class Observation:
    """One test transaction as the gateway reports it."""

    trace_id: str
    module: str
    test_case: str
    result_code: str
    observed_at: dt.datetime
    interface: str = ""


@dataclass
class ObservationReport:
    case: OnboardingCase
    recorded: list[GatewayObservation] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # trace ids already recorded, same values
    unmatched: list[str] = field(default_factory=list)  # trace ids of no row of this case's matrix


def succeeded(result_code: str) -> bool:
    return result_code.strip() in settings.TEST_GATEWAY_SUCCESS_CODES


def case_for_test_credentials(*, user: Any, test_account: str = "", certificate_ref: str = "") -> OnboardingCase:
    """The case whose test package issued these credentials, among the cases `user` may see.

    Either may be given; both narrow. Of several cases with the credentials (a test account
    reused after a case ended), the one in joint testing; more than one there is ambiguous.
    """
    account, cert = test_account.strip(), certificate_ref.strip()
    if not account and not cert:
        raise CaseError(_("须提供测试账号或测试证书编号。"))
    packages = TestPackage.objects.filter(case__in=OnboardingCase.objects.filter(case_visible_q(user)))
    if cert:
        packages = packages.filter(test_certificate_ref__iexact=cert)
    if account:
        packages = packages.filter(test_accounts__contains=account)
    cases = [
        p.case for p in packages.select_related("case") if not account or account in split_accounts(p.test_accounts)
    ]
    if not cases:
        raise CredentialsUnknown(_("没有案件使用该测试凭证。"))
    testing = [c for c in cases if c.state in declaration.states_with(Feature.JOINT_TESTS)]
    if len(testing) > 1:
        raise CaseError(_("该测试凭证对应多个联调中的案件,请同时提供测试账号和测试证书编号。"))
    if not testing:
        raise NotInJointTesting(_("该测试凭证对应的案件 %(ref)s 不在联调测试阶段。") % {"ref": cases[0].reference})
    return testing[0]


def _problems(observations: list[Observation]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for o in observations:
        if not o.trace_id.strip():
            problems.append(_("交易缺少追踪号。"))
        elif o.trace_id in seen:
            problems.append(_("追踪号 %(t)s 在本次报送中重复。") % {"t": o.trace_id})
        seen.add(o.trace_id)
        if o.module not in Module.values or o.test_case not in dict(TEST_CASES.get(o.module, ())):
            problems.append(
                _("追踪号 %(t)s:没有测试用例 %(m)s:%(c)s。") % {"t": o.trace_id, "m": o.module, "c": o.test_case}
            )
        if not o.result_code.strip():
            problems.append(_("追踪号 %(t)s 缺少返回码。") % {"t": o.trace_id})
        if timezone.is_naive(o.observed_at):
            problems.append(_("追踪号 %(t)s 的交易时间须带时区。") % {"t": o.trace_id})
    return problems


def _same(row: GatewayObservation, o: Observation, case: OnboardingCase) -> bool:
    return (row.case_id, row.module, row.test_case, row.result_code, row.observed_at) == (
        case.pk,
        o.module,
        o.test_case,
        o.result_code.strip(),
        o.observed_at,
    )


def test_observations_record(
    *, user: User, observations: list[Observation], test_account: str = "", certificate_ref: str = ""
) -> ObservationReport:
    """Keep what the gateway saw for the case of these test credentials (idempotent by trace id).

    Refused, and nothing kept, when the credentials name no case, the case is not in joint
    testing, an observation is malformed, or a trace id was recorded before as another transaction.
    """
    if getattr(user, "branch_id", None) is None or not has_role(user, *STAFF_ROLES):
        raise CaseError(_("只有银行的测试网关可以报送联调测试交易。"))
    if not observations:
        raise CaseError(_("请至少报送一笔交易。"))
    problems = _problems(observations)
    if problems:
        raise CaseError(_("测试交易未登记。"), problems)
    case = case_for_test_credentials(user=user, test_account=test_account, certificate_ref=certificate_ref)
    credential = (certificate_ref.strip() or test_account.strip())[:100]
    report = ObservationReport(case=case)
    with case_write(case=case, user=user, seen_version=None) as w:
        if w.case.state not in declaration.states_with(Feature.JOINT_TESTS):
            raise NotInJointTesting(_("该测试凭证对应的案件 %(ref)s 不在联调测试阶段。") % {"ref": w.case.reference})
        earlier = {
            r.trace_id: r for r in GatewayObservation.objects.filter(trace_id__in=[o.trace_id for o in observations])
        }
        clashes = [
            o.trace_id for o in observations if o.trace_id in earlier and not _same(earlier[o.trace_id], o, w.case)
        ]
        if clashes:
            raise CaseError(
                _("追踪号已登记为另一笔交易,本次报送未登记。"), [_("追踪号 %(t)s") % {"t": t} for t in clashes]
            )
        report.duplicates = [o.trace_id for o in observations if o.trace_id in earlier]
        new = [o for o in observations if o.trace_id not in earlier]
        report.unmatched = [o.trace_id for o in observations if o.module not in w.case.modules]
        if not new:
            w.unchanged()
            return report
        try:
            with transaction.atomic():  # a trace id posted for another case at the same moment
                report.recorded = GatewayObservation.objects.bulk_create(
                    [
                        GatewayObservation(
                            case=w.case,
                            trace_id=o.trace_id.strip(),
                            module=o.module,
                            test_case=o.test_case,
                            interface=o.interface.strip()[:100],
                            result_code=o.result_code.strip()[:30],
                            succeeded=succeeded(o.result_code),
                            observed_at=o.observed_at,
                            credential=credential,
                            recorded_by=user,
                            recorded_at=w.now,
                        )
                        for o in new
                    ]
                )
        except IntegrityError:
            raise CaseError(_("追踪号已登记为另一笔交易,本次报送未登记。")) from None
        events.test_observed(
            case=w.case,
            actor=user,
            observations=[
                {
                    "trace_id": r.trace_id,
                    "module": r.module,
                    "test_case": r.test_case,
                    "result_code": r.result_code,
                    "succeeded": r.succeeded,
                    "observed_at": r.observed_at.isoformat(),
                }
                for r in report.recorded
            ],
        )
    return report


def test_observations_confirm(
    *, case: OnboardingCase, user: User, keys: list[tuple[str, str]] | None = None, expected_version: int | None = None
) -> list[ModuleTestResult]:
    """The customer confirms the gateway's observations of the given rows (None: all of them):
    each becomes the row's result, passed when the gateway saw a success, the trace id its evidence."""
    pending = observations_pending(case)
    chosen = pending if keys is None else {k: pending[k] for k in keys if k in pending}
    if not chosen:
        raise CaseError(_("没有待确认的测试网关记录。"))
    outcomes = [
        TestOutcome(
            module=o.module,
            test_case=o.test_case,
            passed=o.succeeded,
            evidence=o.trace_id,
            notes=" ".join(x for x in (o.interface, o.result_code) if x)[:300],
            observation=o,
        )
        for o in chosen.values()
    ]
    return test_results_record(case=case, user=user, outcomes=outcomes, expected_version=expected_version)
