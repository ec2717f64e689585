"""The next-step panel at the top of the staff case page: who holds the case, what is missing, by when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from branches.roles import Role

from .models import OnboardingCase
from .states import CUSTOMER

# Where on the case page a problem is settled, found by the words the guard uses.
_ANCHORS = (
    ("生产配置", "production"),
    ("测试包", "test-package"),
    ("测试", "testing"),
    ("UKey", "counter"),
    ("操作员", "counter"),
    ("柜", "counter"),
    ("核验", "counter"),
    ("变更", "company-changes"),
    ("材料", "documents"),
    ("文件", "documents"),
    ("上传", "documents"),
    ("签章", "documents"),
)


@dataclass(frozen=True)
class Missing:
    text: str
    anchor: str


def anchor_for(problem: str) -> str:
    for word, anchor in _ANCHORS:
        if word in problem:
            return anchor
    return "actions"


def holder_label(case: OnboardingCase) -> str:
    """The person, or the role and branch, who holds the case now."""
    visit = case.current_visit
    if visit is None:
        return "—"
    if visit.holder_role == CUSTOMER:
        return _("客户:%(company)s") % {"company": case.company.name}
    if visit.holder_role == Role.ACCOUNT_MANAGER and case.account_manager is not None:
        return _("客户经理 %(name)s") % {"name": case.account_manager}
    role = Role(visit.holder_role).label if visit.holder_role in Role.values else visit.holder_role
    if visit.holder_role in (Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER):
        return str(role)
    if visit.holder_role == Role.BRANCH_SUPERVISOR and case.branch.parent is not None:
        return f"{role} · {case.branch.parent.name}"
    return f"{role} · {case.branch.name}"


def next_step(case: OnboardingCase, options: list[Any]) -> dict[str, Any]:
    seen: set[str] = set()
    missing = []
    for option in options:
        for problem in option.problems:
            if problem not in seen:
                seen.add(problem)
                missing.append(Missing(text=problem, anchor=anchor_for(problem)))
    return {"holder": holder_label(case), "missing": missing, "allowed": [o for o in options if o.allowed]}
