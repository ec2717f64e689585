"""State codes, stages and who holds the ball in each (domain.md, "The case and its stages")."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.roles import Role


class State(models.TextChoices):
    DRAFT = "draft", _("草稿")
    BRANCH_INTAKE = "branch_intake", _("分支行受理")
    HEAD_OFFICE_APPROVAL = "head_office_approval", _("总行立项审批")
    TEST_PACKAGE_ISSUANCE = "test_package_issuance", _("测试包下发")
    JOINT_TESTING = "joint_testing", _("联调测试")
    UKEY_ISSUANCE = "ukey_issuance", _("柜台UKey发放")
    PRODUCTION_VERIFICATION = "production_verification", _("生产验证")
    LIVE = "live", _("已上线")
    SUSPENDED = "suspended", _("已暂停")
    REJECTED = "rejected", _("不予立项")
    WITHDRAWN = "withdrawn", _("已撤回")


# The six working stages, in order; draft comes before them and live after.
WORKING_STAGES: tuple[str, ...] = (
    State.BRANCH_INTAKE,
    State.HEAD_OFFICE_APPROVAL,
    State.TEST_PACKAGE_ISSUANCE,
    State.JOINT_TESTING,
    State.UKEY_ISSUANCE,
    State.PRODUCTION_VERIFICATION,
)
OPEN_STATES: tuple[str, ...] = (State.DRAFT, *WORKING_STAGES, State.SUSPENDED)
TERMINAL_STATES: tuple[str, ...] = (State.LIVE, State.REJECTED, State.WITHDRAWN)


class ApprovalLevel(models.TextChoices):
    BRANCH = "branch", _("分行审核")
    HEAD_OFFICE = "head_office", _("总行审批")


class Party(models.TextChoices):
    BANK = "bank", _("银行")
    CUSTOMER = "customer", _("客户")


CUSTOMER = "customer"

# Who holds the ball when a stage is entered: (party, role code or "customer").
STAGE_HOLDER: dict[str, tuple[str, str]] = {
    State.DRAFT: (Party.CUSTOMER, CUSTOMER),
    State.BRANCH_INTAKE: (Party.BANK, Role.ACCOUNT_MANAGER),
    State.HEAD_OFFICE_APPROVAL: (Party.BANK, Role.BRANCH_SUPERVISOR),
    State.TEST_PACKAGE_ISSUANCE: (Party.BANK, Role.TECH_REVIEWER),
    State.JOINT_TESTING: (Party.CUSTOMER, CUSTOMER),
    State.UKEY_ISSUANCE: (Party.BANK, Role.COUNTER_MAKER),
    State.PRODUCTION_VERIFICATION: (Party.CUSTOMER, CUSTOMER),
}


class Module(models.TextChoices):
    ACCOUNT_QUERY = "account_query", _("账户查询")
    PAYMENT_SINGLE = "payment_single", _("指令支付(单笔)")
    PAYMENT_BATCH = "payment_batch", _("指令支付(批量)")
    RECONCILIATION = "reconciliation", _("自动对账")
    E_RECEIPT = "e_receipt", _("电子回单")
    PAYROLL = "payroll", _("代发工资")
    CASH_POOLING = "cash_pooling", _("资金归集")


class RiskLevel(models.TextChoices):
    LOW = "low", _("低")
    MEDIUM = "medium", _("中")
    HIGH = "high", _("高")


# The joint-test cases each requested module brings (domain.md: "Each module brings its own
# joint-test cases"). Codes are stored on results; labels are shown.
TEST_CASES: dict[str, tuple[tuple[str, Any], ...]] = {
    Module.ACCOUNT_QUERY: (
        ("balance", _("余额查询")),
        ("statement", _("交易明细/对账单查询")),
    ),
    Module.PAYMENT_SINGLE: (
        ("submit", _("单笔支付指令提交")),
        ("status", _("单笔支付结果查询")),
        ("duplicate", _("重复指令拒绝(防重)")),
    ),
    Module.PAYMENT_BATCH: (
        ("submit", _("批量支付文件提交")),
        ("status", _("批量支付结果查询")),
    ),
    Module.RECONCILIATION: (
        ("fetch", _("余额对账单获取")),
        ("feedback", _("对账结果反馈")),
    ),
    Module.E_RECEIPT: (
        ("query", _("电子回单查询")),
        ("download", _("电子回单下载")),
    ),
    Module.PAYROLL: (
        ("submit", _("代发工资文件提交")),
        ("status", _("代发结果查询")),
    ),
    Module.CASH_POOLING: (
        ("rules", _("归集规则查询")),
        ("transfers", _("归集交易明细查询")),
    ),
}


def joint_test_label(module: str, code: str) -> str:
    return str(dict(TEST_CASES.get(module, ())).get(code, code))
