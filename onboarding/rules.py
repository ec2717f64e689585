"""Stage guards and transition permissions.

A guard lists what is missing (so a refusal can name it); django-fsm sees it as a
condition that holds when nothing is missing. A permission says which roles may make a
transition, on which cases (branch subtree or own company), and the separation-of-duties
rules; it can say why it refuses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import Role, has_role
from branches.scope import branch_in_subtree, case_in_scope

from . import validators

if TYPE_CHECKING:
    from .models import Enterprise, OnboardingCase


class Guard:
    """A stage guard: `problems(case)` names what is missing; calling it says whether none is."""

    def __init__(self, func: Callable[[OnboardingCase], list[str]]) -> None:
        self.func = func
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__

    def problems(self, case: OnboardingCase) -> list[str]:
        return self.func(case)

    def __call__(self, case: Any) -> bool:
        return not self.func(case)


def guard(func: Callable[[OnboardingCase], list[str]]) -> Guard:
    return Guard(func)


# Later issues (documents, counter entries) add their own checks to a stage's guard here.
EXTRA_CHECKS: dict[str, list[Callable[[OnboardingCase], list[str]]]] = {}


def extend_guard(name: str, check: Callable[[OnboardingCase], list[str]]) -> None:
    EXTRA_CHECKS.setdefault(name, []).append(check)


def _extra(name: str, case: OnboardingCase) -> list[str]:
    return [p for check in EXTRA_CHECKS.get(name, []) for p in check(case)]


def enterprise_problems(enterprise: Enterprise, *, today: dt.date | None = None) -> list[str]:
    """Everything in the company data that does not pass the checks of domain.md."""
    today = today or timezone.localdate()
    problems: list[str] = []

    def check(label: str, func: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except ValidationError as exc:
            problems.extend(f"{label}: {m}" for m in exc.messages)

    if not enterprise.name.strip():
        problems.append(_("企业名称未填写 / Company name is missing"))
    check(_("统一社会信用代码"), validators.validate_uscc, enterprise.uscc)
    if not enterprise.legal_rep_name.strip():
        problems.append(_("法定代表人姓名未填写 / Legal representative's name is missing"))
    check(_("法定代表人身份证号"), validators.validate_resident_id, enterprise.legal_rep_id_number, today=today)
    if not enterprise.handler_name.strip():
        problems.append(_("经办人姓名未填写 / Handler's name is missing"))
    check(_("经办人身份证号"), validators.validate_resident_id, enterprise.handler_id_number, today=today)
    check(_("结算账户"), validators.validate_account_count, enterprise.accounts.count())
    if enterprise.handler_is_legal_rep:
        return problems
    # The handler acts for the legal representative: the authorisation letter must cover today
    # and e-banking.
    if not enterprise.authorisation_valid_from or not enterprise.authorisation_valid_until:
        problems.append(
            _(
                "经办人非法定代表人,须提供法人授权委托书及其有效期 / The handler is not the legal representative: an authorisation letter with its validity period is required"
            )
        )
    elif not enterprise.authorisation_valid_from <= today <= enterprise.authorisation_valid_until:
        problems.append(_("法人授权委托书不在有效期内 / The authorisation letter is not valid today"))
    if not enterprise.authorisation_covers_ebanking:
        problems.append(
            _("法人授权委托书的授权范围须包含电子银行业务 / The authorisation letter's scope must include e-banking")
        )
    return problems


@guard
def draft_complete(case: OnboardingCase) -> list[str]:
    """Company data valid, modules chosen."""
    problems = enterprise_problems(case.enterprise)
    if not case.modules:
        problems.append(_("未选择功能模块 / No module requested"))
    return problems + _extra("draft_complete", case)


@guard
def intake_complete(case: OnboardingCase) -> list[str]:
    """Intake documents accepted; fee and risk assessment filled; company data consistent."""
    problems = enterprise_problems(case.enterprise)
    if not case.modules:
        problems.append(_("未选择功能模块 / No module requested"))
    if case.fee_amount is None:
        problems.append(_("未填写费用评估 / Fee assessment is missing"))
    if not case.risk_level:
        problems.append(_("未填写风险评估 / Risk assessment is missing"))
    return problems + _extra("intake_complete", case)


@guard
def not_yet_endorsed(case: OnboardingCase) -> list[str]:
    if case.current_endorsement() is not None:
        return [_("分行已审核,等待总行审批 / The branch has already endorsed; head office approval is pending")]
    return []


@guard
def endorsed(case: OnboardingCase) -> list[str]:
    if case.current_endorsement() is None:
        return [_("缺少分行审核(立项上报)/ The branch supervisor's endorsement is missing")]
    return []


@guard
def test_package_recorded(case: OnboardingCase) -> list[str]:
    package = getattr(case, "test_package", None)
    if package is None:
        return [_("测试包尚未登记 / The test package has not been recorded")]
    labels = {
        "test_endpoint": _("测试地址"),
        "test_accounts": _("测试账号"),
        "test_certificate_ref": _("测试证书编号"),
        "doc_version": _("接口文档版本"),
    }
    missing = [str(label) for field, label in labels.items() if not getattr(package, field)]
    if missing:
        return [_("测试包缺少:%(items)s / The test package is missing: %(items)s") % {"items": "、".join(missing)}]
    return []


def joint_test_status(case: OnboardingCase) -> dict[tuple[str, str], Any]:
    """The latest result row per (module, test case); later rows supersede earlier ones."""
    latest: dict[tuple[str, str], Any] = {}
    for result in case.test_results.order_by("recorded_at", "pk"):
        latest[(result.module, result.test_case)] = result
    return latest


def joint_tests_missing(case: OnboardingCase) -> list[str]:
    """Labels of the requested test cases whose latest result is not a pass."""
    from .states import TEST_CASES, Module, joint_test_label

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
        problems.append(
            _("以下测试用例未通过或未测试:%(m)s / Test cases not yet passed: %(m)s") % {"m": "、".join(missing)}
        )
    return problems + _extra("tests_passed", case)


@guard
def production_ready(case: OnboardingCase) -> list[str]:
    """Production configuration issued and kept apart from the test one."""
    config = getattr(case, "production_config", None)
    if config is None:
        return [_("生产配置尚未下发 / The production configuration has not been issued")] + _extra(
            "production_ready", case
        )
    return config.problems() + _extra("production_ready", case)


@guard
def customer_confirmed(case: OnboardingCase) -> list[str]:
    problems = []
    if case.customer_confirmed_at is None:
        problems.append(
            _("客户尚未确认生产验证(小额实单交易及对账)/ The customer has not confirmed production verification")
        )
    return problems + _extra("customer_confirmed", case)


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
            return _("此操作仅限:%(roles)s / Only %(roles)s may do this") % {"roles": names}
        if not in_scope(case, user):
            return _("该案件不在您的管辖范围内 / This case is outside your branch or company")
        if self.not_submitter and case.submitted_by_id == user.pk:
            return _("提交人不能审批自己提交的案件 / The person who submitted the case cannot approve it")
        if self.not_endorser:
            endorsement = case.current_endorsement()
            if endorsement is not None and endorsement.decided_by_id == user.pk:
                return _("同一人不能既做分行审核又做总行审批 / One person cannot give both approvals")
        return None

    def __call__(self, case: Any, user: Any) -> bool:
        return self.refusal(case, user) is None
