"""The next-step panel at the top of the staff case page: who holds the case, what is missing, by when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from branches.roles import Role, has_role, user_roles
from casetypes import declaration

from .models import OnboardingCase
from .states import CUSTOMER

# Fields of the edit page (资料与评估) where a missing item is filled in, found by the guard's words.
_EDIT_FIELDS = (
    ("费用评估", "id_fee_amount"),
    ("风险评估", "id_risk_level"),
    ("功能模块", "id_modules"),
    ("企业名称", "id_name"),
    ("统一社会信用代码", "id_uscc"),
    ("法定代表人身份证号", "id_legal_rep_id_number"),
    ("经办人身份证号", "id_handler_id_number"),
    ("授权范围", "id_authorisation_covers_ebanking"),
    ("授权委托书", "id_authorisation_valid_from"),
    ("法定代表人", "id_legal_rep_name"),
    ("经办人", "id_handler_name"),
    ("结算账户", "id_acc-0-account_number"),
)

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
    href: str = ""

    def __post_init__(self) -> None:
        if not self.href:
            object.__setattr__(self, "href", f"#{self.anchor}")


def anchor_for(problem: str) -> str:
    for word, anchor in _ANCHORS:
        if word in problem:
            return anchor
    return "actions"


def missing_item(case: OnboardingCase, problem: str, *, can_edit: bool) -> Missing:
    """The problem with a link to where it is settled: a field of the edit page (fee, risk,
    modules, company data) for the person who may edit it, else the case page's section."""
    anchor = anchor_for(problem)
    if anchor == "actions":
        field = next((f for word, f in _EDIT_FIELDS if word in problem), None)
        if field is not None:
            if can_edit:
                return Missing(problem, field, reverse("case_edit", args=[case.public_id]) + f"#{field}")
            return Missing(problem, "case-facts")
    return Missing(problem, anchor)


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


def refused_to(case: OnboardingCase, options: list[Any], user: Any) -> list[str]:
    """Why a reader with the stage's role may take none of its steps: the separation-of-duties
    reasons (not the submitter, not the person who opened the request, not the maker), once each.
    Empty when the reader may take a step, or has no role the steps name."""
    if user is None or not case.is_open or any(not o.rare for o in options):
        return []
    reasons: list[str] = []
    for t in declaration.transitions(declaration.case_type_of(case)):
        roles = getattr(t.permission, "roles", ())
        if t.source != case.state or t.custom.get("withdraws") or not roles or not has_role(user, *roles):
            continue
        refused = t.permission.refusal(case, user)
        if refused and str(refused) not in reasons:
            reasons.append(str(refused))
    return reasons


def next_step(case: OnboardingCase, options: list[Any], user: Any = None) -> dict[str, Any]:
    """Who holds the case, what the stage still needs (whoever does it, each linked to where it
    is settled), and the reader's own actions: the stage's work first, rare ones apart."""
    from .services import EDITABLE_STATES, stage_work_left

    can_edit = user is not None and case.state in EDITABLE_STATES and has_role(user, Role.ACCOUNT_MANAGER)
    seen: set[str] = set()
    missing = []
    # A step taken by a panel's form (the change panel's 复核通过) is no button here: the panel
    # is linked instead, and what its form settles is not listed as missing.
    in_panel = [o for o in options if o.panel]
    options = [o for o in options if not o.panel]
    problems = [p for o in options for p in o.problems] + (stage_work_left(case) if case.is_open else [])
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            missing.append(missing_item(case, problem, can_edit=can_edit))
    main = [o for o in options if not o.rare]
    # Work of the stage that is not a transition (the counter's entries, the test package, the
    # joint-test decision): the declared action of each of the reader's roles, linked to its form.
    stage_actions: list[Any] = []
    declared = declaration.stage(case.state) if user is not None and case.is_open else None
    if declared is not None:
        roles = user_roles(user)
        stage_actions = [a for a in declared.actions if a.role in roles and a.anchor not in ("actions", "next-step")]
    # The reader's panel steps the stage declares no action of theirs for: a link each to the panel.
    for o in in_panel:
        if not any(a.anchor == o.panel for a in stage_actions):
            stage_actions.append(declaration.Action("", o.label, o.panel))
    refused = refused_to(case, [*options, *in_panel], user)
    if refused:  # the stage's work is not this reader's to do: no button leading to it
        stage_actions = []
    return {
        "stage_actions": stage_actions,
        "refused": refused,
        "holder": holder_label(case),
        "missing": missing,
        "allowed": [o for o in options if o.allowed],
        "main": main,
        "rare": [o for o in options if o.rare],
        "can_edit": can_edit,
    }
