"""The columns of an import file, in Chinese as a branch's spreadsheet has them, and the template.

Each column names the form field it fills (`onboarding.forms.EnterpriseForm`, `AccountForm`,
`CaseForm`), so a row is checked by the same validators as the intake page and an error is
reported under the column's own header.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from casetypes import declaration
from casetypes.declaration import Feature
from onboarding.imported import IMPORTABLE_STATES
from onboarding.journey import ONBOARDING

# The example stage of the import template: the one where the customer tests.
_EXAMPLE_STATE = str(ONBOARDING.labels()[ONBOARDING.with_feature(Feature.JOINT_TESTS)[0]])


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = False
    example: str = ""
    english: str = ""

    def header_in(self, language: str | None = None) -> str:
        """The header in the page's language: English pages get English headers (issue 25)."""
        language = language or translation.get_language() or "zh-hans"
        return self.english if language.startswith("en") and self.english else self.header


def _stage_header(stage: str) -> str:
    return "上线日期" if stage in declaration.live_states() else f"{declaration.state_label(stage)}日期"


def _stage_header_en(stage: str) -> str:
    if stage in declaration.live_states():
        return "Go-live date"
    with translation.override("en"):
        return f"{declaration.state_label(stage)} date"


# Headers are the bank's words: the file is read by what it says, in Chinese or in English (the
# template follows the page's language; the importer accepts either, column by column). The
# example row passes every check of the intake page (check digits of the credit code and the ID
# numbers included): a test imports the template itself (tests/test_transfers_template.py).
COLUMNS: tuple[Column, ...] = (
    Column("name", "企业名称", True, "上海示例贸易有限公司", "Company name"),
    Column("uscc", "统一社会信用代码", True, "91310000MA1FL3B27J", "Unified social credit code"),
    Column("registered_address", "注册地址", False, "上海市浦东新区示例路1号", "Registered address"),
    Column("legal_rep_name", "法定代表人", True, "张三", "Legal representative"),
    Column("legal_rep_id_number", "法定代表人身份证号", True, "310104198001010017", "Legal representative ID number"),
    Column("handler_name", "经办人", True, "张三", "Handler"),
    Column("handler_id_number", "经办人身份证号", True, "310104198001010017", "Handler ID number"),
    Column("handler_phone", "经办人电话", False, "13800000000", "Handler phone"),
    Column("authorisation_valid_from", "授权委托书生效日", False, "", "Authorisation valid from"),
    Column("authorisation_valid_until", "授权委托书到期日", False, "", "Authorisation valid until"),
    Column("authorisation_covers_ebanking", "授权范围包含电子银行业务", False, "否", "Authorisation covers e-banking"),
    Column("contact_name", "联系人", False, "王五", "Contact"),
    Column("contact_phone", "联系电话", False, "021-00000000", "Contact phone"),
    Column("contact_email", "联系邮箱", False, "finance@example.com", "Contact email"),
    Column("account_numbers", "结算账号", True, "6222000000000001;6222000000000002", "Settlement accounts"),
    Column("account_name", "账户户名", False, "", "Account name"),
    Column("opening_branch", "开户行", False, "浦东支行", "Opening branch"),
    Column("branch", "受理机构号", False, "", "Branch code"),
    Column("account_manager", "客户经理", True, "am_shpd", "Account manager"),
    Column("modules", "功能模块", True, "账户查询;自动对账", "Modules"),
    Column("erp_system", "企业ERP/财资系统", False, "SAP S/4HANA", "ERP / treasury system"),
    Column("connection_notes", "对接方式说明", False, "", "Connection notes"),
    Column("target_date", "目标上线日期", False, "", "Target go-live date"),
    Column("state", "当前阶段", True, _EXAMPLE_STATE, "Current stage"),
    *(
        Column(f"entered_{stage}", _stage_header(stage), False, "", _stage_header_en(stage))
        for stage in IMPORTABLE_STATES
    ),
)
BY_HEADER = {**{c.english: c for c in COLUMNS if c.english}, **{c.header: c for c in COLUMNS}}
BY_KEY = {c.key: c for c in COLUMNS}
STAGE_COLUMNS = {stage: f"entered_{stage}" for stage in IMPORTABLE_STATES}
# Lists inside one cell: accounts, modules.
LIST_SEPARATORS = r"[;;,,、\s]+"
YES = {"是", "y", "yes", "true", "1", "√", "有"}
NO = {"否", "n", "no", "false", "0", "", "无"}

TEMPLATE_NOTE = _(
    "每行一个案件。日期写作 2026-03-05;多个账号或功能模块用分号分隔;当前阶段写阶段名称(如“联调测试”);"
    "已经历的每个阶段都须填写进入日期。"
)


def example_rows() -> list[list[str]]:
    """One example row, with the history of a case in joint testing."""
    dates = {
        "entered_branch_intake": "2026-03-02",
        "entered_head_office_approval": "2026-03-09",
        "entered_test_package_issuance": "2026-03-16",
        "entered_joint_testing": "2026-03-20",
    }
    return [[dates.get(c.key, c.example) for c in COLUMNS]]


def template_csv() -> bytes:
    """The template as CSV in UTF-8 with a BOM (what Excel opens without garbling Chinese)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c.header_in() for c in COLUMNS])
    writer.writerows(example_rows())
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "案件导入"
    sheet.append([c.header_in() for c in COLUMNS])
    for cell, column in zip(sheet[1], COLUMNS, strict=True):
        cell.font = Font(bold=column.required)
        cell.number_format = "@"
    for row in example_rows():
        sheet.append(row)
    for column_cells in sheet.columns:
        letter = column_cells[0].column_letter
        sheet.column_dimensions[letter].width = max(12, len(str(column_cells[0].value)) * 2 + 2)
        for cell in column_cells:
            cell.number_format = "@"  # text: account and ID numbers keep every digit
    notes = book.create_sheet("说明")
    notes.append([str(TEMPLATE_NOTE)])
    notes.append([str(_("必填列(粗体):")) + str(_("、")).join(c.header_in() for c in COLUMNS if c.required)])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
