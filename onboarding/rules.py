"""Stage guards and transition permissions.

A guard lists what is missing (so a refusal can name it); django-fsm sees it as a
condition that holds when nothing is missing. A permission says which roles may make a
transition, on which cases (branch subtree or own company), and the separation-of-duties
rules; it can say why it refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils.translation import gettext as _

from branches.roles import Role, has_role
from branches.scope import branch_in_subtree, case_in_scope
from casetypes.extensions import ExtensionPoint
from companies.rules import company_problems

# The rules sit below the case model (the journey's transitions, which the model inherits,
# name them), so they know a case only by what they read of it.
OnboardingCase = Any


class Guard:
    """A stage guard: `problems(case)` names what is missing; calling it says whether none is.

    Its own checks come first; other apps add theirs to `guard_checks` (see
    `onboarding.workflow`), so one call asks everything the stage needs.
    """

    def __init__(self, func: Callable[[OnboardingCase], list[str]]) -> None:
        self.func = func
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__

    @property
    def extensions(self) -> list[Callable[[OnboardingCase], list[str]]]:
        return guard_checks.get(self.__name__)

    def problems(self, case: OnboardingCase) -> list[str]:
        return [*self.func(case), *(p for check in self.extensions for p in check(case))]

    def __call__(self, case: Any) -> bool:
        return not self.problems(case)


class Route(Guard):
    """A condition that picks which of a stage's ways forward is this case's (an accounts change
    that adds a payment module goes to its joint test, one that does not goes straight to setup):
    a way whose route fails is not offered on the case page, so what it says is not listed as
    missing; posted anyway, it is refused with its words like any guard."""


GUARDS: dict[str, Guard] = {}


def guard(func: Callable[[OnboardingCase], list[str]]) -> Guard:
    GUARDS[func.__name__] = Guard(func)
    return GUARDS[func.__name__]


# Other apps add their checks to a stage guard, keyed by the guard's name, from their `ready()`:
# ``rules.guard_checks.add(counter_problems, key="production_ready")``.
guard_checks: ExtensionPoint[Callable[[Any], list[str]]] = ExtensionPoint(
    "onboarding.guard_checks", "a stage guard's checks from other apps, keyed by the guard's name"
)


@guard
def draft_complete(case: OnboardingCase) -> list[str]:
    """Company data valid, modules chosen."""
    problems = company_problems(case.company)
    if not case.modules:
        problems.append(_("未选择功能模块"))
    return problems


@guard
def intake_complete(case: OnboardingCase) -> list[str]:
    """Intake documents accepted; fee and risk assessment filled; company data consistent."""
    problems = company_problems(case.company)
    if not case.modules:
        problems.append(_("未选择功能模块"))
    if case.fee_amount is None:
        problems.append(_("未填写费用评估"))
    if not case.risk_level:
        problems.append(_("未填写风险评估"))
    return problems


@guard
def not_yet_endorsed(case: OnboardingCase) -> list[str]:
    """The branch supervisor has not endorsed this approval visit yet."""
    if case.current_endorsement() is not None:
        return [_("分行已审核,等待总行审批")]
    return []


@guard
def endorsed(case: OnboardingCase) -> list[str]:
    """The branch supervisor endorsed this approval visit."""
    if case.current_endorsement() is None:
        return [_("缺少分行审核(立项上报)")]
    return []


@guard
def test_package_recorded(case: OnboardingCase) -> list[str]:
    """Test package recorded: endpoint, test accounts, test certificate, document version."""
    package = getattr(case, "test_package", None)
    if package is None:
        return [_("测试包尚未登记")]
    labels = {
        "test_endpoint": _("测试地址"),
        "test_accounts": _("测试账号"),
        "test_certificate_ref": _("测试证书编号"),
        "doc_version": _("接口文档版本"),
    }
    missing = [str(label) for field, label in labels.items() if not getattr(package, field)]
    if missing:
        return [_("测试包缺少:%(items)s") % {"items": "、".join(missing)}]
    return []


TEST_RESULTS_KEY = "onboarding.test_results"


def joint_test_status(case: OnboardingCase, *, results: Iterable[Any] | None = None) -> dict[tuple[str, str], Any]:
    """The latest result row per (module, test case); later rows supersede earlier ones.

    `results`, when given, are the case's rows already read in (recorded_at, pk) order.
    """
    from .page_reads import read_once

    if results is None:
        results = read_once(case, TEST_RESULTS_KEY, lambda: list(case.test_results.order_by("recorded_at", "pk")))
    latest: dict[tuple[str, str], Any] = {}
    for result in results:
        latest[(result.module, result.test_case)] = result
    return latest


def joint_tests_missing(case: OnboardingCase) -> list[str]:
    """Labels of the requested test cases whose latest result is not a pass."""
    from .terms import TEST_CASES, Module, joint_test_label

    latest = joint_test_status(case)
    missing = []
    for module in case.modules:
        if module not in Module.values:
            continue
        for code, _label in TEST_CASES.get(module, ()):
            result = latest.get((module, code))
            if result is None or not result.passed:
                missing.append(f"{Module(module).label}·{joint_test_label(module, code)}")
    return missing


@guard
def tests_passed(case: OnboardingCase) -> list[str]:
    """Every test case of every requested module passed (latest result per test case)."""
    missing = joint_tests_missing(case)
    problems = []
    if missing:
        problems.append(_("以下测试用例未通过或未测试:%(m)s") % {"m": "、".join(missing)})
    return problems


@guard
def production_ready(case: OnboardingCase) -> list[str]:
    """Production configuration issued and kept apart from the test one."""
    config = getattr(case, "production_config", None)
    if config is None:
        return [_("生产配置尚未下发")]
    return config.problems()


@guard
def customer_confirmed(case: OnboardingCase) -> list[str]:
    """The customer confirmed the small real transactions and the reconciliation."""
    problems = []
    if case.customer_confirmed_at is None:
        problems.append(_("客户尚未确认生产验证(小额实单交易及对账)"))
    return problems


# --- permissions ---------------------------------------------------------------------------


# Scope is one vocabulary (branches/scope.py); the transition rules and services name it so.
in_scope = case_in_scope
in_scope_branch = branch_in_subtree


class Allowed:
    """Which roles may make a transition, and the separation-of-duties rules that apply."""

    def __init__(self, *roles: str, not_submitter: bool = False, not_endorser: bool = False) -> None:
        self.roles = roles
        self.not_submitter = not_submitter
        self.not_endorser = not_endorser

    def refusal(self, case: OnboardingCase, user: Any) -> str | None:
        if not has_role(user, *self.roles):
            names = "、".join(str(Role(r).label) for r in self.roles)
            return _("此操作仅限:%(roles)s") % {"roles": names}
        if not in_scope(case, user):
            return _("该案件不在您的管辖范围内")
        if self.not_submitter and case.submitted_by_id == user.pk:
            return _("提交人不能审批自己提交的案件")
        if self.not_endorser:
            endorsement = case.current_endorsement()
            if endorsement is not None and endorsement.decided_by_id == user.pk:
                return _("同一人不能既做分行审核又做总行审批")
        return None

    def __call__(self, case: Any, user: Any) -> bool:
        return self.refusal(case, user) is None

    def describe(self) -> str:
        """The rule in words (for `manage.py describe_workflow`)."""
        words = ", ".join(f"{r} ({Role(r).label})" for r in self.roles) + "; in the case's branch subtree or company"
        if self.not_submitter:
            words += "; not the person who submitted it"
        if self.not_endorser:
            words += "; not the branch endorser"
        return words
