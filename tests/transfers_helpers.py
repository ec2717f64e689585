"""Import files as branches make them: rows of Chinese headers, in GB18030, UTF-8, UTF-8 with BOM or .xlsx."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.apps import apps

from tests.factories import resident_id, uscc
from transfers.columns import COLUMNS

HEADERS = [c.header for c in COLUMNS]
ENCODINGS = ["gb18030", "utf-8", "utf-8-sig", "xlsx"]


def good_row(n: int, *, manager: str = "am_a", **over: str) -> dict[str, str]:
    """A case in joint testing, with the dates of every stage it passed."""
    row = {
        "企业名称": f"导入测试{n}号科技有限公司",
        "统一社会信用代码": uscc(900000 + n),
        "注册地址": "上海市浦东新区测试路1号",
        "法定代表人": "赵六",
        "法定代表人身份证号": resident_id(700 + n % 200),
        "经办人": "赵六",
        "经办人身份证号": resident_id(700 + n % 200),
        "授权范围包含电子银行业务": "否",
        "联系邮箱": f"finance{n}@import.example",
        "结算账号": f"62229000{n:06d};62229001{n:06d}",
        "开户行": "测试支行",
        "客户经理": manager,
        "功能模块": "账户查询;自动对账",
        "当前阶段": "联调测试",
        "分支行受理日期": "2026-03-02",
        "总行立项审批日期": "2026-03-09",
        "测试包下发日期": "2026-03-16",
        "联调测试日期": "2026-03-20",
    }
    row.update(over)
    return row


def bad_row(n: int) -> dict[str, str]:
    """Wrong in five columns: credit code check character, ID number, account, module, a date."""
    code = uscc(900000 + n)
    return good_row(
        n,
        统一社会信用代码=code[:17] + ("0" if code[17] != "0" else "1"),
        法定代表人身份证号="310104198001011234",
        结算账号="12ab",
        功能模块="账户查询;外汇交易",
        测试包下发日期="2026-02-30",
    )


def encode(rows: list[dict[str, str]], encoding: str) -> tuple[bytes, str]:
    """The file's bytes and name, as Excel would save these rows."""
    if encoding == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(HEADERS)
        for row in rows:
            sheet.append([row.get(h, "") for h in HEADERS])
        buf = io.BytesIO()
        book.save(buf)
        return buf.getvalue(), "pipeline.xlsx"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([row.get(h, "") for h in HEADERS])
    return buf.getvalue().encode(encoding), f"pipeline-{encoding}.csv"


def table_counts() -> dict[str, int]:
    """The number of rows of every table of every installed model."""
    return {m._meta.db_table: m._default_manager.count() for m in apps.get_models() if m._meta.managed}


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {t: (before[t], after[t]) for t in before if before[t] != after[t]}


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def response_bytes(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content
