"""The words of a direct-link case that are not its stages: approval levels, parties, modules,
risk levels and the joint-test cases each module brings. The stages are declared in
`journey.py`."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from casetypes import declaration


class ApprovalLevel(models.TextChoices):
    BRANCH = "branch", _("分行审核")
    HEAD_OFFICE = "head_office", _("总行审批")


class Party(models.TextChoices):
    BANK = "bank", _("银行")
    CUSTOMER = "customer", _("客户")


CUSTOMER = declaration.CUSTOMER


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
