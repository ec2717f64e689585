"""Importing a bank's live links (直联服务) from its spreadsheet: the columns, the template, the check.

One row per link. The company must already be in the tracker with an onboarding case that is
live and has no link (the case import, `transfers.validation`, brings in cases already live
with their history; import them first). The row then records the link as the bank keeps it:
accounts with their rights, modules, production endpoint, front-end certificate, operators
with role and UKey serial (each serial new to the counter's UKey register and to the file:
the import records the keys there), go-live date, branch, status. The key is the company and the
production endpoint: a link already there (imported or gone live in the tracker), or a second
row of the same file for the same key, is refused with the reason, so a re-import writes
nothing twice. Every error names its row and column, in Chinese; nothing here writes
(`links.imported.link_create_imported` does, one row in one transaction).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from branches.models import Branch
from branches.scope import branch_in_subtree, branch_within, subtree_q
from companies import validators
from companies.models import Enterprise
from counter.models import OperatorRole
from counter.selectors import ukey_serials_taken
from links.imported import link_create_imported, live_cases_without_link
from links.models import LinkStatus, LiveLink
from onboarding.form_fields import DateField
from onboarding.models import OnboardingCase
from onboarding.states import Module

from .columns import LIST_SEPARATORS, Column
from .reading import Table

if TYPE_CHECKING:
    from accounts.models import User

    from .models import ImportJob

COLUMNS: tuple[Column, ...] = (
    Column("uscc", "统一社会信用代码", True, "91310115MA07700017"),
    Column("name", "企业名称", False, "上海示例贸易有限公司"),
    Column("accounts", "账号及权限", True, "6222000000000001(查询/支付);6222000000000002(查询)"),
    Column("modules", "功能模块", True, "账户查询;指令支付(单笔)"),
    Column("production_endpoint", "生产地址", True, "https://dl.example.com:8443/bank"),
    Column("certificate_serial", "前置机证书序列号", True, "4A3F000000000001"),
    Column("certificate_expires_on", "证书到期日", True, "2027-06-30"),
    Column(
        "operators",
        "操作员",
        True,
        "李四/录入(制单)/K0000000001/310104198001010025;王五/复核/K0000000002/310104198001010033",
    ),
    Column("went_live_on", "上线日期", True, "2025-06-30"),
    Column("branch", "受理机构号", False, ""),
    Column("status", "服务状态", False, "正常"),
)
BY_HEADER = {c.header: c for c in COLUMNS}
# A file of more links than this is imported in the background (chunks through the delivery
# kernel), whatever IMPORT_INLINE_ROWS says: a link row costs ≈ 45 ms on PostgreSQL here (the
# link, its event, accounts, operators), so 200 rows stay well inside a web request's time.
INLINE_ROWS = 200
BY_KEY = {c.key: c for c in COLUMNS}

TEMPLATE_NOTE = gettext_lazy(
    "每行一个已上线的直联服务;企业须已在系统中有已上线的开通案件(可先用案件导入)。账号写作“账号(查询/支付)”,"
    "多个用分号分隔;操作员写作“姓名/角色/K宝编号/身份证号”,多个用分号分隔;日期写作 2026-03-05;服务状态为“正常”或“已暂停”。"
)
_RIGHTS = {"查询": "can_query", "支付": "can_pay"}
_ACCOUNT = re.compile(r"^(\d{8,32})(?:[((]([^))]*)[))])?$")


def header_problems(headers: list[str]) -> list[str]:
    problems = []
    unknown = [h for h in headers if h and h not in BY_HEADER]
    if unknown:
        problems.append(_("无法识别的列:%(cols)s(请使用导入模板的表头)") % {"cols": "、".join(unknown)})
    repeated = sorted({h for h in headers if h and headers.count(h) > 1})
    if repeated:
        problems.append(_("列重复:%(cols)s") % {"cols": "、".join(repeated)})
    missing = [c.header for c in COLUMNS if c.required and c.header not in headers]
    if missing:
        problems.append(_("缺少必填列:%(cols)s") % {"cols": "、".join(missing)})
    return problems


@dataclass
class LinkRowCheck:
    row: int
    errors: list[tuple[str, str]] = field(default_factory=list)
    case: OnboardingCase | None = None
    branch: Branch | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, key: str, message: Any) -> None:
        self.errors.append((BY_KEY[key].header if key in BY_KEY else key, str(message)))

    def summary(self) -> str:
        if not self.ok or self.case is None:
            return ""
        return _("为“%(name)s”(案件 %(case)s)建立直联服务:%(n)d 个账号,%(m)d 名操作员,受理机构 %(branch)s") % {
            "name": self.case.enterprise.name,
            "case": self.case.reference,
            "n": len(self.values.get("accounts", [])),
            "m": len(self.values.get("operators", [])),
            "branch": self.branch,
        }


def _split(value: str) -> list[str]:
    return [v for v in re.split(r"[;;\n]+", value or "") if v.strip()]


def _serials(operators: str) -> list[str]:
    """The K宝 serials of an operators cell (the third part of each “姓名/角色/K宝编号/身份证号”)."""
    found = []
    for item in _split(operators):
        parts = [p.strip() for p in re.split(r"[//]", item)]
        if len(parts) == 4 and parts[2]:
            found.append(parts[2])
    return found


class LinkChecker:
    """Checks link rows for `user` importing into `scope`'s subtree (reads preloaded once)."""

    def __init__(self, *, user: User, scope: Branch, table: Table) -> None:
        self.user = user
        self.scope = scope
        self.index = {h: i for i, h in enumerate(table.headers) if h in BY_HEADER}
        self.branches = {b.code: b for b in Branch.objects.filter(subtree_q("", scope))}
        usccs = {self.value(cells, "uscc").upper() for _n, cells in table.rows}
        self.enterprises = {
            e.uscc: e for e in Enterprise.objects.filter(uscc__in=[u for u in usccs if u]).select_related("branch")
        }
        # The links and the linkless live cases of these companies, read once (not per row).
        ids = [e.pk for e in self.enterprises.values()]
        self.links = {
            (enterprise_id, endpoint): reference
            for enterprise_id, endpoint, reference in LiveLink.objects.filter(enterprise_id__in=ids).values_list(
                "enterprise_id", "production_endpoint", "reference"
            )
        }
        self.live_cases: dict[int, OnboardingCase] = {}
        for case in live_cases_without_link(ids).select_related("branch", "enterprise"):
            self.live_cases.setdefault(case.enterprise_id, case)
        self.first_row: dict[tuple[str, str], int] = {}
        for number, cells in table.rows:
            key = (self.value(cells, "uscc").upper(), self.value(cells, "production_endpoint"))
            self.first_row.setdefault(key, number)
        # The UKey serials of the file: those the register holds already, and each one's first row.
        self.serial_first_row: dict[str, int] = {}
        for number, cells in table.rows:
            for serial in _serials(self.value(cells, "operators")):
                self.serial_first_row.setdefault(serial, number)
        self.serials_taken = ukey_serials_taken(self.serial_first_row)
        self.today = timezone.localdate()
        with translation.override("zh-hans"):
            self.module_codes = {code: code for code in Module.values} | {
                str(label): code for code, label in Module.choices
            }
            self.roles = {str(label): code for code, label in OperatorRole.choices} | {
                code: code for code in OperatorRole.values
            }
            self.statuses = {str(label): code for code, label in LinkStatus.choices}
        self.date_field = DateField(required=False)

    def value(self, cells: list[str], key: str) -> str:
        i = self.index.get(BY_KEY[key].header)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def check(self, number: int, cells: list[str]) -> LinkRowCheck:
        with translation.override("zh-hans"):
            return self._check(number, cells)

    def _date(self, r: LinkRowCheck, key: str, raw: str) -> dt.date | None:
        if not raw:
            r.error(key, _("必填"))
            return None
        try:
            return self.date_field.clean(raw)  # type: ignore[no-any-return]
        except ValidationError as exc:
            r.error(key, " ".join(exc.messages))
            return None

    def _check(self, number: int, cells: list[str]) -> LinkRowCheck:
        r = LinkRowCheck(row=number)
        v = {c.key: self.value(cells, c.key) for c in COLUMNS}
        self._company(r, v)
        self._accounts(r, v)
        self._link(r, v)
        self._operators(r, v)
        return r

    def _company(self, r: LinkRowCheck, v: dict[str, str]) -> None:
        code = v["uscc"].upper()
        if not code:
            r.error("uscc", _("必填"))
            return
        try:
            validators.validate_uscc(code)
        except ValidationError as exc:
            r.error("uscc", " ".join(exc.messages))
            return
        enterprise = self.enterprises.get(code)
        if enterprise is None:
            r.error("uscc", _("系统中没有该企业:请先用案件导入导入其已上线的案件"))
            return
        if not branch_in_subtree(enterprise.branch, self.user) or not branch_within(enterprise.branch, self.scope):
            r.error("uscc", _("该企业已在其他机构登记,请联系其开户机构"))
            return
        endpoint = v["production_endpoint"]
        first = self.first_row.get((code, endpoint), r.row)
        if first != r.row:
            r.error("production_endpoint", _("与第 %(n)d 行是同一直联服务(同一企业、同一生产地址)") % {"n": first})
            return
        existing = self.links.get((enterprise.pk, endpoint))
        if existing is not None:
            r.error("production_endpoint", _("该直联服务已存在(服务编号 %(ref)s),不重复导入") % {"ref": existing})
            return
        r.case = self.live_cases.get(enterprise.pk)
        if r.case is None:
            r.error("uscc", _("该企业没有已上线且尚未建立直联服务的开通案件"))
            return
        branch_code = v["branch"]
        if branch_code:
            r.branch = self.branches.get(branch_code)
            if r.branch is None:
                r.error("branch", _("机构号不存在或不在导入机构辖内"))
        else:
            r.branch = r.case.branch
            if not branch_within(r.branch, self.scope):
                r.error("uscc", _("该企业的案件不在导入机构辖内"))

    def _accounts(self, r: LinkRowCheck, v: dict[str, str]) -> None:
        accounts: list[dict[str, Any]] = []
        for item in _split(v["accounts"]):
            m = _ACCOUNT.match(item.strip())
            if m is None:
                r.error("accounts", _("“%(v)s”不是有效的账号(8–32 位数字,可跟括号写权限)") % {"v": item.strip()})
                continue
            rights = [x for x in re.split(r"[/、,,\s]+", m.group(2) or "查询") if x]
            unknown = [x for x in rights if x not in _RIGHTS]
            if unknown:
                r.error("accounts", _("权限只能是“查询”或“支付”:%(v)s") % {"v": "、".join(unknown)})
                continue
            if any(a["account_number"] == m.group(1) for a in accounts):
                r.error("accounts", _("账号 %(n)s 重复") % {"n": m.group(1)})
                continue
            accounts.append({"account_number": m.group(1), "can_query": "查询" in rights, "can_pay": "支付" in rights})
        if not accounts and not any(c == BY_KEY["accounts"].header for c, _m in r.errors):
            r.error("accounts", _("至少填写一个账号"))
        r.values["accounts"] = accounts

    def _link(self, r: LinkRowCheck, v: dict[str, str]) -> None:
        modules = []
        for item in re.split(LIST_SEPARATORS, v["modules"]):
            if not item:
                continue
            code = self.module_codes.get(item)
            if code is None:
                r.error("modules", _("未知的功能模块:%(m)s") % {"m": item})
            elif code not in modules:
                modules.append(code)
        if not modules and not v["modules"]:
            r.error("modules", _("必填"))
        r.values["modules"] = modules
        for key, limit in (("production_endpoint", 200), ("certificate_serial", 100)):
            if not v[key]:
                r.error(key, _("必填"))
            elif len(v[key]) > limit:
                r.error(key, _("不能超过 %(n)d 个字符") % {"n": limit})
            r.values[key] = v[key]
        r.values["certificate_expires_on"] = self._date(r, "certificate_expires_on", v["certificate_expires_on"])
        live = self._date(r, "went_live_on", v["went_live_on"])
        if live is not None and live > self.today:
            r.error("went_live_on", _("上线日期不能晚于今天"))
        r.values["went_live_on"] = live
        status = self.statuses.get(v["status"] or str(LinkStatus.ACTIVE.label))
        if status not in (LinkStatus.ACTIVE, LinkStatus.SUSPENDED):
            r.error("status", _("只能导入状态为“正常”或“已暂停”的直联服务"))
        r.values["status"] = status

    def _operators(self, r: LinkRowCheck, v: dict[str, str]) -> None:
        operators: list[dict[str, Any]] = []
        for item in _split(v["operators"]):
            parts = [p.strip() for p in re.split(r"[//]", item)]
            if len(parts) != 4 or not all(parts):
                r.error("operators", _("“%(v)s”应写作“姓名/角色/K宝编号/身份证号”") % {"v": item.strip()})
                continue
            name, role_label, serial, id_number = parts
            role = self.roles.get(role_label)
            if role is None:
                r.error(
                    "operators",
                    _("操作员 %(n)s 的角色“%(r)s”不存在,可选:%(all)s")
                    % {"n": name, "r": role_label, "all": "、".join(str(x) for _c, x in OperatorRole.choices)},
                )
                continue
            try:
                validators.validate_resident_id(id_number)
            except ValidationError as exc:
                r.error("operators", _("操作员 %(n)s 的身份证号:%(e)s") % {"n": name, "e": " ".join(exc.messages)})
                continue
            if len(name) > 60 or len(serial) > 40:
                r.error("operators", _("操作员 %(n)s 的姓名或K宝编号过长") % {"n": name[:60]})
                continue
            if any(o["ukey_serial"] == serial for o in operators):
                r.error("operators", _("K宝编号 %(s)s 重复") % {"s": serial})
                continue
            if serial in self.serials_taken:
                r.error("operators", _("K宝编号 %(s)s 已在UKey登记簿中,不能重复导入") % {"s": serial})
                continue
            first = self.serial_first_row.get(serial, r.row)
            if first != r.row:
                r.error("operators", _("K宝编号 %(s)s 与第 %(n)d 行重复") % {"s": serial, "n": first})
                continue
            operators.append({"name": name, "role": role, "ukey_serial": serial, "id_number": id_number})
        if not operators and not any(c == BY_KEY["operators"].header for c, _m in r.errors):
            r.error("operators", _("至少填写一名操作员"))
        r.values["operators"] = operators


def import_row(job: ImportJob, r: LinkRowCheck) -> str:
    """Create the row's link; returns its reference."""
    assert r.case is not None and r.branch is not None and job.started_by is not None
    link = link_create_imported(
        user=job.started_by,
        case=r.case,
        branch=r.branch,
        source={"import_job": str(job.public_id), "file": job.original_name, "row": r.row},
        **r.values,
    )
    return link.reference


def example_rows() -> list[list[str]]:
    return [[c.example for c in COLUMNS]]


def template_csv() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c.header for c in COLUMNS])
    writer.writerows(example_rows())
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "直联服务导入"
    sheet.append([c.header for c in COLUMNS])
    for cell, column in zip(sheet[1], COLUMNS, strict=True):
        cell.font = Font(bold=column.required)
    for row in example_rows():
        sheet.append(row)
    for column_cells in sheet.columns:
        sheet.column_dimensions[column_cells[0].column_letter].width = 24
        for cell in column_cells:
            cell.number_format = "@"
    notes = book.create_sheet("说明")
    notes.append([str(TEMPLATE_NOTE)])
    notes.append(["必填列(粗体):" + "、".join(c.header for c in COLUMNS if c.required)])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
