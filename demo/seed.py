"""Demo data: a branch tree, one user per role per place, a dozen companies, ~40 cases.

Every case is walked through the real services (with the clock set back), so its history,
stage visits and due dates are what the product itself would have written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from freezegun import freeze_time

from branches.models import Branch, BranchLevel
from branches.roles import Role, ensure_role_groups
from counter import services as services_counter
from counter.models import OperatorRole
from demo.counter_work import (
    add_operators,
    complete_counter_work,
    confirm_identity,
    issue_ukey,
    record_all_tests_passed,
)
from onboarding import notifications, services
from onboarding.models import OnboardingCase
from onboarding.states import TEST_CASES, Module, RiskLevel, State
from onboarding.validators import resident_id_check_char, uscc_check_char

DEMO_PASSWORD = "Demo-2026-pass"

BRANCHES = [
    ("HO", "总行", BranchLevel.HEAD_OFFICE, None),
    ("BJ", "北京分行", BranchLevel.BRANCH, "HO"),
    ("SH", "上海分行", BranchLevel.BRANCH, "HO"),
    ("BJHD", "北京海淀支行", BranchLevel.SUB_BRANCH, "BJ"),
    ("BJCY", "北京朝阳支行", BranchLevel.SUB_BRANCH, "BJ"),
    ("SHPD", "上海浦东支行", BranchLevel.SUB_BRANCH, "SH"),
    ("SHXH", "上海徐汇支行", BranchLevel.SUB_BRANCH, "SH"),
]

# (username, display name, role, branch code)
STAFF = [
    ("ho_approver", "周立群", Role.HEAD_OFFICE_APPROVER, "HO"),
    ("ho_tech", "吴思远", Role.TECH_REVIEWER, "HO"),
    ("auditor", "郑审计", Role.AUDITOR, "HO"),
    ("sup_bj", "王建国", Role.BRANCH_SUPERVISOR, "BJ"),
    ("sup_sh", "陈美华", Role.BRANCH_SUPERVISOR, "SH"),
    ("am_bj", "李晓明", Role.ACCOUNT_MANAGER, "BJ"),
    ("am_sh", "孙丽", Role.ACCOUNT_MANAGER, "SH"),
    ("am_bjhd", "张伟", Role.ACCOUNT_MANAGER, "BJHD"),
    ("am_bjcy", "刘洋", Role.ACCOUNT_MANAGER, "BJCY"),
    ("am_shpd", "赵静", Role.ACCOUNT_MANAGER, "SHPD"),
    ("am_shxh", "黄磊", Role.ACCOUNT_MANAGER, "SHXH"),
    ("maker_bjhd", "马晓燕", Role.COUNTER_MAKER, "BJHD"),
    ("checker_bjhd", "高峰", Role.COUNTER_CHECKER, "BJHD"),
    ("maker_bjcy", "何佳", Role.COUNTER_MAKER, "BJCY"),
    ("checker_bjcy", "罗斌", Role.COUNTER_CHECKER, "BJCY"),
    ("maker_shpd", "林芳", Role.COUNTER_MAKER, "SHPD"),
    ("checker_shpd", "郭涛", Role.COUNTER_CHECKER, "SHPD"),
    ("maker_shxh", "梁敏", Role.COUNTER_MAKER, "SHXH"),
    ("checker_shxh", "宋杰", Role.COUNTER_CHECKER, "SHXH"),
]

COMPANIES = [
    ("北京华信科技有限公司", "BJHD"),
    ("北京燕山建材集团有限公司", "BJHD"),
    ("北京中关村智能制造股份有限公司", "BJHD"),
    ("北京朝阳国际物流有限公司", "BJCY"),
    ("北京京东方贸易有限公司", "BJCY"),
    ("北京堃喆医药有限公司", "BJCY"),
    ("上海浦江能源有限公司", "SHPD"),
    ("上海陆家嘴资产管理有限公司", "SHPD"),
    ("上海东方航运有限公司", "SHPD"),
    ("上海徐汇食品有限公司", "SHXH"),
    ("上海昇辉电子科技有限公司", "SHXH"),
    ("上海衡山文化传媒有限公司", "SHXH"),
]
PEOPLE = [
    "张建华",
    "李秀英",
    "王志强",
    "刘海燕",
    "陈国栋",
    "杨晓丽",
    "赵德明",
    "黄慧敏",
    "周文博",
    "吴桂芳",
    "徐振宇",
    "孙雅琴",
]

# Where each demo case should end up; repeated to ~40 cases. "+overdue" leaves it past its SLA.
TARGETS = [
    "draft",
    "branch_intake",
    "branch_intake+overdue",
    "head_office_approval",
    "head_office_approval+endorsed",
    "head_office_approval+overdue",
    "test_package_issuance",
    "test_package_issuance+overdue",
    "joint_testing",
    "joint_testing+overdue",
    "ukey_issuance",
    "ukey_issuance+overdue",
    "production_verification",
    "production_verification+overdue",
    "live",
    "live",
    "suspended",
    "rejected",
    "withdrawn",
    "branch_intake+returned",
]


def demo_uscc(i: int) -> str:
    body = f"91110108MA{i:07d}"
    return body + uscc_check_char(body)


def demo_id(i: int, year: int = 1975) -> str:
    body = f"110105{year + i % 20}{(i % 12) + 1:02d}{(i % 27) + 1:02d}{i % 1000:03d}"
    return body + resident_id_check_char(body)


def _user(username: str, name: str, *, role: str, branch: Branch | None = None, enterprise: Any = None) -> Any:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "display_name": name,
            "email": f"{username}@demo.bank.example",
            "branch": branch,
            "enterprise": enterprise,
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


@transaction.atomic
def seed(stdout: Any = None, *, link_requests: bool = True) -> dict[str, int]:
    ensure_role_groups()
    branches: dict[str, Branch] = {}
    for code, name, level, parent in BRANCHES:
        branch, _ = Branch.objects.get_or_create(
            code=code, defaults={"name": name, "level": level, "parent": branches.get(parent) if parent else None}
        )
        branches[code] = branch
    staff = {u: _user(u, n, role=r, branch=branches[b]) for u, n, r, b in STAFF}
    admin = get_user_model().objects.filter(username="admin").first()
    if admin is None:
        admin = get_user_model().objects.create_superuser("admin", "admin@demo.bank.example", DEMO_PASSWORD)
    # Staff must log in with a TOTP code: the demo accounts get known secrets, so
    # `manage.py totp_code <username>` can print the current code.
    from audit.mfa import demo_totp_secret, totp_enrol

    for person in [*staff.values(), admin]:
        totp_enrol(person, demo_totp_secret(person.username))
    # Head-office tech runs the bank's own systems: its reviewer is the demo bank administrator
    # of API clients and webhook endpoints (/integrations/).
    from django.contrib.auth.models import Permission

    staff["ho_tech"].user_permissions.add(
        Permission.objects.get(content_type__app_label="webhooks", codename="manage_bank_integrations")
    )

    from portal.models import EnterpriseMember

    made = 0
    with notifications.suppressed():
        for i, (name, branch_code) in enumerate(COMPANIES, start=1):
            uscc = demo_uscc(i)
            am = staff[f"am_{branch_code.lower()}"]
            enterprise = _enterprise(i, name, uscc, branches[branch_code], am)
            ent_user = _user(f"ent{i:02d}", PEOPLE[i % len(PEOPLE)], role=Role.ENTERPRISE_USER, enterprise=enterprise)
            # Each company's demo user administers its portal team (may invite colleagues).
            EnterpriseMember.objects.get_or_create(user=ent_user, defaults={"is_admin": True})
            if enterprise.cases.exists():
                continue
            for j in range(3 if i <= 4 else 4 if i <= 8 else 3):
                target = TARGETS[(i * 3 + j) % len(TARGETS)]
                _walk(enterprise, am, staff, branch_code, target, seed_no=i * 10 + j)
                made += 1
    # Not suppressed: the link requests' hand-off notices and the renewal reminders are the demo's
    # in-app notices (the onboarding history replayed inside is suppressed).
    links_made = _live_links(requests=link_requests)
    from analytics.history import seed_history  # two years of past cases for the cockpit and forecast

    seed_history(stdout=stdout)
    return {
        "branches": len(branches),
        "staff": len(staff),
        "cases_created": made,
        "cases": OnboardingCase.objects.count(),
        "live_links_created": links_made,
    }


def _live_links(*, requests: bool = True) -> int:
    """Every live demo case has its live link (go-live made them; a database seeded before links
    existed gets them now), and two lost UKeys are under way: one reported by the customer on
    the portal (waiting for the counter maker), one whose replacement waits for the checker.
    Then more links go live, with a request of every other type under way (`_link_requests`)."""
    from links import services as links
    from links.models import LinkRequest, LiveLink

    made = 0
    walked = OnboardingCase.objects.filter(case_type="onboarding", state=State.LIVE, production_config__isnull=False)
    for case in walked.filter(live_link__isnull=True):
        links.link_create_from_case(case=case, actor=None)
        made += 1
    if not requests:
        return made
    if LinkRequest.objects.exists():  # seeded before: only what is missing
        return made + _link_requests()
    users = get_user_model().objects
    first_two = [link for link in LiveLink.objects.order_by("pk") if link.current_operators().exists()][:2]
    for n, link in enumerate(first_two):
        key = link.current_operators().order_by("pk").first().ukey  # type: ignore[union-attr]
        assert key is not None
        if n == 0:
            customer = users.filter(enterprise=link.enterprise).order_by("pk").first()
            assert customer is not None
            links.ukey_loss_report(link=link, ukey=key, user=customer, reason="K宝随公文包遗失")
            continue
        maker = users.get(username=f"maker_{link.branch.code.lower()}")
        request = links.ukey_loss_report(link=link, ukey=key, user=maker, reason="客户来电挂失:K宝损坏无法识别")
        links.ukey_replacement_make(request=request, user=maker, serial=f"KB-R{link.pk:04d}01")
    return made + _link_requests()


# Links that go live for the requests below: (company no., name, branch, customer, risk, months ago,
# certificate expiring in … days or None). Each is an onboarding case walked to go-live as the others.
REQUEST_LINKS = [
    (13, "北京西山新材料有限公司", "BJHD", "孟庆华", RiskLevel.LOW, 0, 38),  # certificate expiring next month
    (14, "北京通州汽车零部件有限公司", "BJCY", "钱玉兰", RiskLevel.LOW, 0, None),  # suspended, resumption asked
    (15, "上海金桥精密机械有限公司", "SHPD", "冯志刚", RiskLevel.MEDIUM, 0, None),  # termination under way
    # periodic review due, accounts/modules change in its joint test
    (16, "上海漕河泾软件有限公司", "SHXH", "蒋红梅", RiskLevel.HIGH, 13, None),
    (17, "北京亦庄环保设备有限公司", "BJHD", "袁立新", RiskLevel.LOW, 0, None),  # terminated: closed
]


def _link_requests() -> int:
    """Requests of every type under way on the demo's live links, each made by the real roles
    through the real services (so the link events, stage visits and notices are the product's).

    - a certificate expiring next month: the renewal sweep opens its renewal (and those of the
      other links whose certificate runs out within LINK_RENEWAL_LEAD_DAYS);
    - an operator change waiting for the counter checker, an accounts/modules change (adding the
      payment module) in its joint test, each with its 变更申请书 signed, uploaded and accepted;
    - a suspended link whose customer asked on the portal to resume;
    - a termination whose sealed letter is accepted, waiting for the supervisor's approval;
    - one periodic review due (a high-risk link live for 13 months), opened by the review sweep."""
    import io

    from companies.models import Enterprise
    from documents import services as documents
    from documents.models import DocumentKind
    from documents.samples import sample_pdf
    from links import changes
    from links import request_services as requests
    from links.models import LinkRequest, LiveLink
    from links.requests import cert_renewal, termination
    from links.requests.suspension import SuspensionReason
    from onboarding.terms import Module as Modules
    from portal.models import EnterpriseMember

    users = get_user_model().objects
    staff = {u: users.get(username=u) for u, _n, _r, _b in STAFF}
    branches = {b.code: b for b in Branch.objects.all()}
    walked: dict[int, LiveLink] = {}
    if Enterprise.objects.filter(uscc=demo_uscc(REQUEST_LINKS[0][0])).exists():
        return 0  # seeded already
    for i, name, code, person, risk, months_ago, cert_days in REQUEST_LINKS:
        back = dt.timedelta(days=round(30.5 * months_ago))
        with freeze_time(timezone.now() - back), notifications.suppressed():
            am = staff[f"am_{code.lower()}"]
            enterprise = _enterprise(i, name, demo_uscc(i), branches[code], am)
            customer = _user(f"ent{i:02d}", person, role=Role.ENTERPRISE_USER, enterprise=enterprise)
            EnterpriseMember.objects.get_or_create(user=customer, defaults={"is_admin": True})
            expires = timezone.localdate() + back + dt.timedelta(days=cert_days) if cert_days else None
            _walk(enterprise, am, staff, code, "live", seed_no=i * 10, risk=risk, cert_expires=expires)
        walked[i] = LiveLink.objects.get(enterprise=enterprise)

    def customer_of(link: LiveLink) -> Any:
        return users.filter(enterprise=link.enterprise).order_by("pk").first()

    def by_branch(role: str, link: LiveLink) -> Any:
        return staff[f"{role}_{link.branch.code.lower()}"]

    def manager(link: LiveLink) -> Any:
        return link.onboarding_case.account_manager

    def supervisor(link: LiveLink) -> Any:
        return staff["sup_bj" if link.branch.code.startswith("BJ") else "sup_sh"]

    def change_form_signed(request: LinkRequest, customer: Any, reviewer: Any) -> None:
        """The customer uploads the 变更申请书 signed and sealed; the account manager accepts it."""
        case = OnboardingCase.objects.get(pk=request.case_id)
        version = documents.document_upload(
            case=case,
            user=customer,
            kind=DocumentKind.LINK_CHANGE_FORM,
            upload=io.BytesIO(sample_pdf(f"{case.reference} 变更申请书(签字盖章)")),
            name="变更申请书.pdf",
        )
        documents.document_review(version=version, user=reviewer, accept=True)

    now = timezone.now()

    def ago(days: float) -> Any:
        """The requests were made over the last week (the links went live before)."""
        return freeze_time(now - dt.timedelta(days=days))

    # Operator change: the customer adds an authoriser on the portal; the account manager approves;
    # the counter maker enters the person and the new K宝; it waits for the checker.
    link = walked[13]
    with ago(4):
        change = changes.operator_change_open(
            link=link,
            user=customer_of(link),
            action="add",
            name="沈春燕",
            id_number=demo_id(1301, 1986),
            role=OperatorRole.AUTHORISE,
            reason="新增财务总监为授权人",
        )
    with ago(3.5):
        change_form_signed(change, customer_of(link), manager(link))
    with ago(3):
        _link_transition(change, manager(link), "operator_change_approved")
    with ago(1):
        changes.operator_change_make(request=change, user=by_branch("maker", link), serial=f"KB-A{link.pk:04d}01")

    # Accounts/modules change: the account manager adds the single-payment module (payment rights
    # on the account); approved, it waits for the customer's joint test of that module only.
    link = walked[16]
    accounts = [
        {
            "account_number": a.account_number,
            "account_name": a.account_name,
            "opening_branch": a.opening_branch,
            "can_query": True,
            "can_pay": True,
        }
        for a in link.current_accounts().order_by("pk")
    ]
    with ago(5):
        change = changes.account_change_open(
            link=link,
            user=manager(link),
            accounts=accounts,
            modules=[*link.modules, str(Modules.PAYMENT_SINGLE)],
            reason="企业申请开通单笔支付",
        )
    with ago(4.5):
        change_form_signed(change, customer_of(link), manager(link))
    with ago(4):
        _link_transition(change, manager(link), "account_change_to_testing")

    # Suspension and resumption: the customer asked for a pause, the supervisor agreed; now the
    # customer asks on the portal to resume, waiting for the supervisor.
    link = walked[14]
    with ago(7):
        pause = requests.suspension_open(
            link=link,
            user=customer_of(link),
            reason_code=SuspensionReason.CUSTOMER,
            reason="ERP系统迁移,暂停直联一个月",
        )
    with ago(6):
        _link_transition(pause, supervisor(link), "suspension_approved")
    link.refresh_from_db()
    with ago(1):
        requests.resumption_open(link=link, user=customer_of(link), reason="ERP系统迁移完成,申请恢复直联")

    # Termination: the customer asks on the portal and uploads the letter bearing the company seal;
    # the account manager accepts it and submits; the supervisor approves next.
    link = walked[15]
    customer = customer_of(link)
    am = manager(link)
    with ago(3):
        ending = requests.termination_open(link=link, user=customer, reason="企业集团资金集中管理,改用集团直联")
        case = OnboardingCase.objects.get(pk=ending.case_id)
        version = documents.document_upload(
            case=case,
            user=customer,
            kind=DocumentKind.TERMINATION_LETTER,
            upload=io.BytesIO(sample_pdf(f"{case.reference} 注销申请函(加盖公章)")),
            name="注销申请函.pdf",
        )
    with ago(2):
        documents.document_review(version=version, user=am, accept=True)
        _link_transition(ending, am, "termination_submitted")
    assert OnboardingCase.objects.get(pk=ending.case_id).state == termination.APPROVAL

    # A termination walked to its end: approved, every UKey revoked (maker, then checker), the
    # connection disabled, closed; the link is 已注销 with its retention date.
    link = walked[17]
    am = manager(link)
    with ago(8):
        ended = requests.termination_open(link=link, user=am, reason="企业注销登记,关闭直联服务")
        case = OnboardingCase.objects.get(pk=ended.case_id)
        version = documents.document_upload(
            case=case,
            user=customer_of(link),
            kind=DocumentKind.TERMINATION_LETTER,
            upload=io.BytesIO(sample_pdf(f"{case.reference} 注销申请函(加盖公章)")),
            name="注销申请函.pdf",
        )
    with ago(7.5):
        documents.document_review(version=version, user=supervisor(link), accept=True)
    for days, user, step_name in [
        (7, am, "termination_submitted"),
        (6, supervisor(link), "termination_approved"),
        (5, by_branch("maker", link), "termination_revocation_entered"),
        (4.8, by_branch("checker", link), "termination_revocation_confirmed"),
        (4, staff["ho_tech"], "termination_disabled"),
        (3, am, "termination_closed"),
    ]:
        with ago(days):
            _link_transition(ended, user, step_name)

    # Certificate renewals: the sweep, as the beat ran it this morning (a link being closed is
    # skipped). The expired certificate goes to the counter (the account manager moves it); the
    # customer whose certificate runs out next week has submitted the new one for tech to confirm.
    with ago(0.2):
        requests.renewal_sweep()
        # Periodic review: the sweep, as the beat runs it (only the high-risk link live 13 months is due).
        changes.periodic_reviews_open()
    for renewal in LinkRequest.objects.filter(kind=cert_renewal.CODE, is_open=True).select_related("link"):
        link = renewal.link
        expires = link.certificate_expires_on
        assert expires is not None
        with ago(0.1):
            if expires < timezone.localdate():
                _link_transition(renewal, manager(link), "cert_renewal_to_counter")
            elif expires < timezone.localdate() + dt.timedelta(days=14):
                customer = customer_of(link)
                requests.certificate_submit(
                    request=renewal,
                    user=customer,
                    serial=f"CFCA-{link.pk:04d}-2029",
                    expires_on=expires.replace(year=expires.year + 2),
                )
                _link_transition(renewal, customer, "cert_renewal_submitted")
    return len(walked)


def _link_transition(request: Any, user: Any, name: str) -> None:
    from links import services as links

    links.request_transition(request=request, user=user, name=name)


def _enterprise(i: int, name: str, uscc: str, branch: Branch, am: Any) -> Any:
    from companies.models import Enterprise

    existing = Enterprise.objects.filter(uscc=uscc).first()
    if existing:
        return existing
    handler_is_rep = i % 3 != 0
    legal_id = demo_id(i)
    today = timezone.localdate()
    data = {
        "name": name,
        "uscc": uscc,
        "registered_address": f"{branch.name[:2]}市某区某路{i}号",
        "legal_rep_name": PEOPLE[i % len(PEOPLE)],
        "legal_rep_id_number": legal_id,
        "handler_name": PEOPLE[i % len(PEOPLE)] if handler_is_rep else PEOPLE[(i + 5) % len(PEOPLE)],
        "handler_id_number": legal_id if handler_is_rep else demo_id(i + 100, 1988),
        "handler_phone": f"1380010{i:04d}",
        "authorisation_valid_from": None if handler_is_rep else today - dt.timedelta(days=200),
        "authorisation_valid_until": None if handler_is_rep else today + dt.timedelta(days=500),
        "authorisation_covers_ebanking": not handler_is_rep,
        "contact_name": PEOPLE[(i + 2) % len(PEOPLE)],
        "contact_phone": f"010-6{i:07d}",
        "contact_email": f"finance{i:02d}@company{i:02d}.example",
        "branch": branch,
    }
    accounts = [
        {"account_number": f"6222{i:04d}{k:08d}", "account_name": name, "opening_branch": branch.name}
        for k in range(1, 2 + i % 3)
    ]
    return services.enterprise_save(user=am, data=data, accounts=accounts)


def _walk(
    enterprise: Any,
    am: Any,
    staff: dict[str, Any],
    branch_code: str,
    target: str,
    seed_no: int,
    *,
    risk: str = RiskLevel.LOW,
    cert_expires: dt.date | None = None,
) -> None:
    """Replay a case's history up to `target`, one step every couple of days in the past."""
    goal, _, flag = target.partition("+")
    overdue = flag == "overdue"
    extra = Module.PAYMENT_SINGLE if seed_no % 2 else Module.E_RECEIPT
    modules: list[str] = [str(Module.ACCOUNT_QUERY), str(Module.RECONCILIATION), str(extra)]
    order: list[str] = [
        State.DRAFT,
        State.BRANCH_INTAKE,
        State.HEAD_OFFICE_APPROVAL,
        State.TEST_PACKAGE_ISSUANCE,
        State.JOINT_TESTING,
        State.UKEY_ISSUANCE,
        State.PRODUCTION_VERIFICATION,
        State.LIVE,
    ]
    base: str = {
        "suspended": State.JOINT_TESTING,
        "rejected": State.HEAD_OFFICE_APPROVAL,
        "withdrawn": State.BRANCH_INTAKE,
    }.get(goal, goal)
    steps = order.index(base)
    # Fresh cases sit in their stage for a day; overdue ones for four weeks.
    last_stay = dt.timedelta(days=30 if overdue else 1, hours=seed_no % 7)
    clock = timezone.now() - last_stay - dt.timedelta(days=3 * steps + 1)
    sup = staff["sup_bj" if branch_code.startswith("BJ") else "sup_sh"]
    maker, checker = staff[f"maker_{branch_code.lower()}"], staff[f"checker_{branch_code.lower()}"]
    tech, approver = staff["ho_tech"], staff["ho_approver"]
    customer = get_user_model().objects.get(enterprise=enterprise, username__startswith="ent")

    def at(step_days: float) -> Any:
        nonlocal clock
        clock += dt.timedelta(days=step_days)
        return freeze_time(clock)

    def move(user: Any, name: str, reason: str = "") -> None:
        services.case_transition(case=case, user=user, name=name, reason=reason)
        case.refresh_from_db()

    with at(0):
        case = services.case_create(user=am, enterprise=enterprise, modules=modules, fields={"erp_system": "用友 NC"})
    if steps >= 1:
        with at(1):
            move(am, "submit")
        with at(0.5):
            # Cases past intake have every intake document accepted; those still in intake
            # show a checklist in progress.
            _documents(
                case, State.BRANCH_INTAKE, customer, am, complete=steps >= 2 or target == "branch_intake+returned"
            )
    if steps >= 2 or target == "branch_intake+returned":
        with at(1):
            services.case_update(
                case=case,
                user=am,
                enterprise_data={},
                accounts=_accounts(enterprise),
                modules=modules,
                fields={
                    "fee_amount": Decimal("5000.00"),
                    "fee_note": "首年服务费",
                    "risk_level": risk,
                    "target_date": timezone.localdate() + dt.timedelta(days=60),
                },
            )
            move(am, "submit_for_approval")
        if target == "branch_intake+returned":
            with at(1):
                move(sup, "return_to_intake", "营业执照复印件未加盖公章,请补充")
    if steps >= 2 and (steps >= 3 or flag == "endorsed" or goal == "rejected"):
        with at(1):
            move(sup, "endorse")
    if goal == "rejected":
        with at(1):
            move(approver, "reject", "企业结算量不足以支撑直联项目成本")
    if steps >= 3:
        with at(1):
            move(approver, "approve")
    if steps >= 4:
        with at(1):
            services.test_package_record(
                case=case,
                user=tech,
                test_endpoint=f"https://test-api.bank.example/h2h/{case.reference}",
                test_accounts="11014999000101\n11014999000102",
                test_certificate_ref=f"TEST-CERT-{seed_no:05d}",
                doc_version="v3.2",
                issued_to=enterprise.contact_name,
            )
            move(tech, "issue_test_package")
    if steps >= 4:
        with at(1):
            _documents(case, State.JOINT_TESTING, customer, tech, complete=steps >= 5, partial=goal != "suspended")
    if steps >= 5 or goal == "suspended":
        with at(2):
            record_all_tests_passed(case, customer, evidence=f"联调流水 {case.reference}")
    elif steps == 4:
        # Joint testing under way: the first module's cases run, one of them failed once.
        with at(2):
            for k, (code, _label) in enumerate(TEST_CASES[modules[0]]):
                services.test_result_record(
                    case=case,
                    user=customer,
                    module=modules[0],
                    test_case=code,
                    passed=k == 0,
                    evidence=f"TX{seed_no:03d}{k}" if k == 0 else "",
                    notes="" if k == 0 else "返回报文签名校验失败,待企业调整",
                )
    if goal == "suspended":
        with at(1):
            move(am, "suspend", "企业ERP系统升级,暂停联调两周")
    if steps >= 5:
        with at(1):
            move(tech, "accept_test_report")
    if steps >= 5:
        with at(1):
            _counter_work(case, maker, checker, seed_no, complete=steps >= 6, expires=cert_expires)
    if steps >= 6 or (steps == 5 and not overdue):
        with at(1):
            services.production_config_record(
                case=case,
                user=tech,
                production_endpoint="https://h2h.bank.example/api",
                certificate_serial=f"PROD-{seed_no:05d}-2026",
                production_accounts=enterprise.accounts.order_by("pk").first().account_number,
                connection_type="internet",
                front_end_processor=f"前置机 10.8.{seed_no % 200}.10 / 银企直联前置 v3.2",
                line_details="互联网 + 前置机",
            )
    if steps >= 6:
        with at(1):
            move(checker, "complete_ukey_issuance")
    if steps >= 7:
        with at(1):
            services.customer_confirm_production(case=case, user=customer)
            move(am, "go_live")
    if goal == "withdrawn":
        with at(1):
            move(am, "withdraw", "企业决定暂缓上线直联")


def _counter_work(
    case: Any, maker: Any, checker: Any, seed_no: int, *, complete: bool, expires: dt.date | None = None
) -> None:
    """Operators, identity check and UKeys; a case still in UKey issuance is left half done."""
    people = [
        (PEOPLE[(seed_no + 3) % len(PEOPLE)], demo_id(seed_no * 3 + 1, 1982), OperatorRole.ENTRY),
        (PEOPLE[(seed_no + 7) % len(PEOPLE)], demo_id(seed_no * 3 + 2, 1984), OperatorRole.REVIEW),
    ]
    today = timezone.localdate()
    # Some live links' certificates run out soon, so the expiry list has something to show.
    if expires is None and seed_no % 3 == 0:
        expires = today + dt.timedelta(days=8 + seed_no % 20)
    if complete:
        complete_counter_work(
            case, maker=maker, checker=checker, people=people, serial_prefix=f"KB{seed_no:04d}", expires_on=expires
        )
        return
    operators = add_operators(case, maker, people)
    confirm_identity(case, maker, checker)
    issue_ukey(case, operators[0], maker, checker, serial=f"KB{seed_no:04d}01")
    services_counter.ukey_issuance_make(case=case, user=maker, operator=operators[1], serial=f"KB{seed_no:04d}02")


def _documents(case: Any, stage: str, uploader: Any, reviewer: Any, *, complete: bool, partial: bool = True) -> None:
    """The customer uploads the stage's documents; a different person reviews them."""
    import io

    from documents import checklist
    from documents import services as documents
    from documents.samples import sample_pdf, sample_png

    items = [r for r in checklist.requirements(case) if r.stage == stage and r.required]
    for n, req in enumerate(items):
        if not complete and not partial:
            break
        if req.kind in ("business_licence", "legal_rep_id", "handler_id"):
            data, name = sample_png(label=f"{case.reference} {req.kind}"), f"{req.label}.png"
        else:
            data, name = sample_pdf(f"{case.reference} {req.kind}"), f"{req.label}.pdf"
        version = documents.document_upload(case=case, user=uploader, kind=req.kind, upload=io.BytesIO(data), name=name)
        if complete or n % 3 == 2:
            documents.document_review(version=version, user=reviewer, accept=True)
        elif n % 3 == 1:
            documents.document_review(
                version=version, user=reviewer, accept=False, reason="复印件不清晰,请重新扫描上传"
            )
        if not complete and n >= 3:
            break  # the rest is still missing


def _accounts(enterprise: Any) -> list[dict[str, str]]:
    return [
        {"account_number": a.account_number, "account_name": a.account_name, "opening_branch": a.opening_branch}
        for a in enterprise.accounts.order_by("pk")
    ]
