"""Small builders for tests: a branch tree, named staff, companies and cases in any state.

Cases are moved with the real transition service, so a case "in joint testing" has the
history, approvals and records that got it there.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from branches.models import Branch, BranchLevel
from branches.roles import Role, ensure_role_groups
from branches.scope import branch_within
from companies.models import Enterprise
from companies.validators import resident_id_check_char, uscc_check_char
from counter.models import OperatorRole
from demo.counter_work import complete_counter_work, record_all_tests_passed
from onboarding import services
from onboarding.models import OnboardingCase
from onboarding.states import Module, RiskLevel, State

PASSWORD = "Test-pass-2026"
# Every staff user built here is enrolled in TOTP with this secret (tests/conftest.py `login`).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_seq = itertools.count(1)


def uscc(n: int) -> str:
    body = f"91310115MA{n:07d}"
    return body + uscc_check_char(body)


def resident_id(n: int, birth: str = "19800101") -> str:
    body = f"310104{birth}{n % 1000:03d}"
    return body + resident_id_check_char(body)


def branch(code: str, level: str, parent: Branch | None = None) -> Branch:
    return Branch.objects.create(code=code, name=f"{code}机构", level=level, parent=parent)


def user(username: str, *roles: str, branch: Branch | None = None, enterprise: Enterprise | None = None) -> Any:
    # The role groups are made by migrate (and again after each flush); look them up in one
    # query, making them only where missing: a World has 13 users, and ensuring every role
    # for each was a third of its cost.
    groups = list(Group.objects.filter(name__in=roles))
    if len(groups) < len(set(roles)):
        ensure_role_groups()
        groups = list(Group.objects.filter(name__in=roles))
        if len(groups) < len(set(roles)):
            raise ValueError(f"no such role among {roles}")
    u = get_user_model().objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@test.example", branch=branch, enterprise=enterprise
    )
    if groups:
        u.groups.add(*groups)
    if branch is not None:
        from audit.mfa import totp_enrol

        totp_enrol(u, TOTP_SECRET)
    return u


def enterprise(br: Branch, *, handler_is_rep: bool = True, accounts: int = 1, name: str | None = None) -> Enterprise:
    n = next(_seq)
    legal = resident_id(n)
    today = timezone.localdate()
    data = {
        "name": name or f"测试企业{n}有限公司",
        "uscc": uscc(n),
        "legal_rep_name": "张三",
        "legal_rep_id_number": legal,
        "handler_name": "张三" if handler_is_rep else "李四",
        "handler_id_number": legal if handler_is_rep else resident_id(n + 500, "19900202"),
        "authorisation_valid_from": None if handler_is_rep else today - dt.timedelta(days=10),
        "authorisation_valid_until": None if handler_is_rep else today + dt.timedelta(days=300),
        "authorisation_covers_ebanking": not handler_is_rep,
        "contact_email": f"contact{n}@company.example",
        "branch": br,
    }
    rows = [{"account_number": f"62220000{n:04d}{k:04d}", "account_name": data["name"]} for k in range(accounts)]
    return services.enterprise_save(user=None, data=data, accounts=rows)


class World:
    """The named actors of style.md: branches A and B under one tier-1 branch, head office roles."""

    def __init__(self) -> None:
        self.head_office = branch("HO", BranchLevel.HEAD_OFFICE)
        self.tier1 = branch("T1", BranchLevel.BRANCH, self.head_office)
        self.tier1_other = branch("T2", BranchLevel.BRANCH, self.head_office)
        self.branch_a = branch("A", BranchLevel.SUB_BRANCH, self.tier1)
        self.branch_b = branch("B", BranchLevel.SUB_BRANCH, self.tier1_other)
        self.am_a = user("am_a", Role.ACCOUNT_MANAGER, branch=self.branch_a)
        self.am_a2 = user("am_a2", Role.ACCOUNT_MANAGER, branch=self.branch_a)
        self.am_b = user("am_b", Role.ACCOUNT_MANAGER, branch=self.branch_b)
        self.supervisor = user("supervisor", Role.BRANCH_SUPERVISOR, branch=self.tier1)
        self.supervisor_other = user("supervisor_other", Role.BRANCH_SUPERVISOR, branch=self.tier1_other)
        self.approver = user("approver", Role.HEAD_OFFICE_APPROVER, branch=self.head_office)
        self.tech = user("tech", Role.TECH_REVIEWER, branch=self.head_office)
        self.maker = user("maker", Role.COUNTER_MAKER, branch=self.branch_a)
        self.checker = user("checker", Role.COUNTER_CHECKER, branch=self.branch_a)
        self.auditor = user("auditor", Role.AUDITOR, branch=self.head_office)
        self.company_x = enterprise(self.branch_a, name="甲公司")
        self.company_y = enterprise(self.branch_b, name="乙公司")
        self.customer_x = user("customer_x", Role.ENTERPRISE_USER, enterprise=self.company_x)
        self.customer_y = user("customer_y", Role.ENTERPRISE_USER, enterprise=self.company_y)

    @property
    def actors(self) -> dict[str, Any]:
        return {
            "account_manager": self.am_a,
            "branch_supervisor": self.supervisor,
            "head_office_approver": self.approver,
            "tech_reviewer": self.tech,
            "counter_maker": self.maker,
            "counter_checker": self.checker,
            "auditor": self.auditor,
            "enterprise_user": self.customer_x,
        }

    def case(self, state: str = State.DRAFT, *, company: Enterprise | None = None, **kwargs: Any) -> OnboardingCase:
        return case_in_state(self, state, company=company or self.company_x, **kwargs)


MODULES = [Module.ACCOUNT_QUERY, Module.RECONCILIATION]
ORDER = [
    State.DRAFT,
    State.BRANCH_INTAKE,
    State.HEAD_OFFICE_APPROVAL,
    State.TEST_PACKAGE_ISSUANCE,
    State.JOINT_TESTING,
    State.UKEY_ISSUANCE,
    State.PRODUCTION_VERIFICATION,
    State.LIVE,
]


def operator_people(n: int) -> list[tuple[str, str, str]]:
    """Two customer operators (录入, 复核) with valid, case-specific ID numbers."""
    return [
        ("操作员甲", resident_id(n * 2 + 1, "19850505"), OperatorRole.ENTRY),
        ("操作员乙", resident_id(n * 2 + 2, "19870707"), OperatorRole.REVIEW),
    ]


def fill_assessment(case: OnboardingCase, by: Any) -> None:
    services.case_update(
        case=case,
        user=by,
        enterprise_data={},
        accounts=[
            {"account_number": a.account_number, "account_name": a.account_name} for a in case.enterprise.accounts.all()
        ],
        modules=list(case.modules),
        fields={"fee_amount": Decimal("3000"), "risk_level": RiskLevel.LOW},
    )


def provide_documents(case: OnboardingCase, stage: str, *, uploader: Any, reviewer: Any) -> None:
    """Upload every required document of `stage` (small generated files) and accept it."""
    from documents import checklist
    from documents import services as documents
    from documents.samples import sample_pdf

    for req in checklist.requirements(case):
        if req.stage == stage and req.required:
            version = documents.document_upload(
                case=case, user=uploader, kind=req.kind, upload=io.BytesIO(sample_pdf(req.kind)), name=f"{req.kind}.pdf"
            )
            documents.document_review(version=version, user=reviewer, accept=True)


def case_in_state(
    w: World, state: str, *, company: Enterprise, endorsed: bool = False, documents: bool = True
) -> OnboardingCase:
    """A case walked to `state` (or to the stage before a side state) through the services.

    The required documents of every stage it passes are uploaded (by the customer where there
    is one) and accepted by a different person; so are those of the stage it ends in, unless
    `documents=False`.
    """
    am = w.am_a if company.branch == w.branch_a else w.am_b
    sup = w.supervisor if branch_within(company.branch, w.tier1) else w.supervisor_other
    customer = get_user_model().objects.filter(enterprise=company).first()
    case = services.case_create(user=am, enterprise=company, modules=[str(m) for m in MODULES])
    base = {
        State.SUSPENDED: State.JOINT_TESTING,
        State.REJECTED: State.HEAD_OFFICE_APPROVAL,
        State.WITHDRAWN: State.DRAFT,
    }
    target = base.get(state, state)

    def move(u: Any, name: str, reason: str = "") -> None:
        nonlocal case
        case = services.case_transition(case=case, user=u, name=name, reason=reason)

    steps = ORDER.index(target)
    if steps >= 1:
        move(am, "submit")
        if documents or steps >= 2:
            provide_documents(case, State.BRANCH_INTAKE, uploader=customer or sup, reviewer=am)
    if steps >= 2:
        fill_assessment(case, am)
        move(am, "submit_for_approval")
    if steps >= 3 or (steps == 2 and endorsed) or state == State.REJECTED:
        move(sup, "endorse")
    if steps >= 3:
        move(w.approver, "approve")
    if steps >= 4:
        services.test_package_record(
            case=case,
            user=w.tech,
            test_endpoint="https://test.bank.example/h2h",
            test_accounts="111",
            test_certificate_ref="TEST-1",
            doc_version="v1",
        )
        move(w.tech, "issue_test_package")
        if documents or steps >= 5:
            provide_documents(case, State.JOINT_TESTING, uploader=customer or am, reviewer=w.tech)
    if steps >= 5 or state == State.SUSPENDED:
        record_all_tests_passed(case, customer or w.tech)
    if steps >= 5:
        move(w.tech, "accept_test_report")
    if steps >= 6:
        services.production_config_record(
            case=case,
            user=w.tech,
            production_endpoint="https://h2h.bank.example",
            certificate_serial="PROD-1",
            production_accounts=company.accounts.order_by("pk").first().account_number,  # type: ignore[union-attr]
        )
        complete_counter_work(
            case,
            maker=w.maker,
            checker=w.checker,
            people=operator_people(case.pk),
            serial_prefix=f"KB{case.pk:05d}",
        )
        move(w.checker, "complete_ukey_issuance")
    if steps >= 7:
        assert customer is not None
        services.customer_confirm_production(case=OnboardingCase.objects.get(pk=case.pk), user=customer)
        move(am, "go_live")
    if state == State.SUSPENDED:
        move(am, "suspend", "客户系统升级")
    if state == State.REJECTED:
        move(w.approver, "reject", "不符合立项条件")
    if state == State.WITHDRAWN:
        move(am, "withdraw", "客户撤回")
    return OnboardingCase.objects.select_related("enterprise", "branch", "current_visit").get(pk=case.pk)


def company_update(
    company: Enterprise, *, by: Any = None, accounts: list[dict[str, str]] | None = None, **changes: Any
) -> Enterprise:
    """Save the company's data with `changes` the way the pages do (a new version follows)."""
    from companies.models import DATA_FIELDS
    from companies.services import company_accounts

    data = {f: getattr(company, f) for f in DATA_FIELDS}
    data.update(changes)
    return services.enterprise_save(
        user=by, data=data, accounts=company_accounts(company) if accounts is None else accounts, enterprise=company
    )


def case_company_set(case: OnboardingCase, **changes: Any) -> OnboardingCase:
    """Give a case a version of its company data no form would accept (e.g. no accounts), for
    testing guards; written straight to the version table, bypassing the services."""
    from companies.models import CompanyVersion

    base = case.company
    values = {**base.values(), "accounts": list(base.accounts), **changes}
    top = CompanyVersion.objects.filter(enterprise=case.enterprise).order_by("-number").first()
    version = CompanyVersion.objects.create(enterprise=case.enterprise, number=(top.number if top else 0) + 1, **values)
    OnboardingCase.objects.filter(pk=case.pk).update(company_version=version)
    case.refresh_from_db()
    return case
