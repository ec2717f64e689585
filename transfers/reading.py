"""Reading an uploaded file into rows of text: CSV in any encoding Chinese Excel saves, or .xlsx.

CSV: a UTF-8 byte-order mark means UTF-8 (`utf-8-sig`); otherwise the file is decoded as strict
UTF-8, and if that fails as GB18030 (a superset of GBK and GB2312: what "CSV" from Chinese
Excel is). A file that is neither is refused, never read with replacement characters.
Excel: the first sheet, with cell values as text (a date as ISO, a whole number without ".0"),
after the zip and XML checks of `sheet` (sizes, compression ratio, no DTD, cell length).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from . import sheet

logger = logging.getLogger(__name__)
MB = 1024 * 1024


class FileProblem(Exception):
    """The file as a whole cannot be read; the message says why, in Chinese."""


@dataclass
class Table:
    fmt: str  # "csv" or "xlsx"
    encoding: str  # "utf-8-sig", "utf-8", "gb18030", or "" for xlsx
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (row number in the file, header row = 1, cells)


XLSX_MAGIC = b"PK\x03\x04"


def decode_csv(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with."""
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise FileProblem(_("无法识别文件编码:请另存为 UTF-8 或 GB18030/GBK 编码的 CSV,或 Excel 文件")) from None


def _rows(cells: list[list[str]], *, max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not cells:
        raise FileProblem(_("文件是空的"))
    headers = [h.strip().lstrip("\ufeff") for h in cells[0]]
    while headers and not headers[-1]:
        headers.pop()
    rows = []
    for number, row in enumerate(cells[1:], start=2):
        if not any(c.strip() for c in row):
            continue  # blank lines between rows are not rows
        rows.append((number, [c.strip() for c in row]))
        if len(rows) > max_rows:
            raise FileProblem(_("文件超过 %(n)d 行,请分成几个文件导入") % {"n": max_rows})
    if not rows:
        raise FileProblem(_("文件只有表头,没有数据行"))
    return headers, rows


def xlsx_limits() -> sheet.Limits:
    return sheet.Limits(
        max_members=settings.IMPORT_XLSX_MAX_MEMBERS,
        max_member_bytes=settings.IMPORT_XLSX_MAX_MEMBER_BYTES,
        max_total_bytes=settings.IMPORT_XLSX_MAX_TOTAL_BYTES,
        max_ratio=settings.IMPORT_XLSX_MAX_RATIO,
        max_shared_strings_bytes=settings.IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES,
        max_cell_chars=settings.IMPORT_XLSX_MAX_CELL_CHARS,
    )


def is_xlsx(data: bytes, name: str) -> bool:
    return data.startswith(XLSX_MAGIC) or name.lower().endswith(".xlsx")


def xlsx_inspect(data: bytes, *, scan_xml: bool = True) -> sheet.Inspection:
    """The zip and (`scan_xml`) XML checks of an .xlsx (no parsing); `FileProblem` if the file is refused."""
    try:
        return sheet.inspect(data, xlsx_limits(), scan_xml=scan_xml)
    except sheet.SheetProblem as exc:
        raise FileProblem(problem_message(exc.code, exc.params)) from None


def _mb(size: int) -> str:
    return f"{size / MB:.1f}".removesuffix(".0")


def problem_message(code: str, params: dict[str, Any]) -> str:
    """A refusal of `sheet` in Chinese, naming the size or the part that was refused."""
    in_bytes = code in ("member_size", "total_size", "shared_strings", "memory")
    p = {k: (_mb(v) if in_bytes and k in ("size", "limit") else v) for k, v in params.items()}
    messages = {
        "corrupt": _("Excel 文件已损坏或不是 .xlsx 格式"),
        "encrypted": _("Excel 文件已加密,请取消密码后另存为 .xlsx 再导入"),
        "members": _("Excel 文件包含 %(count)d 个部件,超过 %(limit)d 个上限,不予解析"),
        "member_size": _("Excel 文件中的 %(name)s 解压后有 %(size)s MB,超过 %(limit)s MB 上限,不予解析"),
        "total_size": _("Excel 文件解压后超过 %(limit)s MB 上限,不予解析"),
        "shared_strings": _("Excel 文件的共享字符串表(%(name)s)解压后有 %(size)s MB,超过 %(limit)s MB 上限,不予解析"),
        "ratio": _("Excel 文件中的 %(name)s 压缩比达 %(ratio)d 倍,超过 %(limit)d 倍上限(疑似压缩炸弹),不予解析"),
        "dtd": _("Excel 文件的 %(name)s 含有 DOCTYPE/实体声明(正常的 Excel 文件不会有),可能是恶意文件,不予解析"),
        "cell": _("Excel 文件中有单元格超过 %(limit)d 个字符上限,不予解析"),
        "memory": _("Excel 文件解析超出 %(limit)s MB 内存上限,已停止"),
        "time": _("Excel 文件解析超过 %(limit)s 秒时限,已停止"),
    }
    return messages.get(code, messages["corrupt"]) % p


def read_table(data: bytes, *, name: str, max_rows: int) -> Table:
    """The rows of an uploaded file; `FileProblem` if it cannot be read at all.

    An .xlsx is checked as a zip first (`sheet.inspect`); one that decompresses to more than
    IMPORT_XLSX_INLINE_BYTES is parsed in a child process under IMPORT_PARSE_MEMORY_MB and
    IMPORT_PARSE_SECONDS (the web request never gets one: `services.file_read` defers it)."""
    if not data:
        raise FileProblem(_("文件是空的"))
    lower = name.lower()
    if is_xlsx(data, name):
        return _read_xlsx(data, max_rows=max_rows)
    if lower.endswith(".xls"):
        raise FileProblem(_("不支持旧版 .xls 文件,请另存为 .xlsx 或 CSV"))
    text, encoding = decode_csv(data)
    try:
        cells = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise FileProblem(_("CSV 格式有误:%(e)s") % {"e": exc}) from None
    headers, rows = _rows(cells, max_rows=max_rows)
    return Table(fmt="csv", encoding=encoding, headers=headers, rows=rows)


def _read_xlsx(data: bytes, *, max_rows: int) -> Table:
    inspection = xlsx_inspect(data)
    max_cell_chars = settings.IMPORT_XLSX_MAX_CELL_CHARS
    try:
        if inspection.total_bytes <= settings.IMPORT_XLSX_INLINE_BYTES:
            cells = sheet.parse(data, max_rows=max_rows, max_cell_chars=max_cell_chars)
        else:
            cells = parse_in_child(data, max_rows=max_rows, max_cell_chars=max_cell_chars)
    except sheet.SheetProblem as exc:
        raise FileProblem(problem_message(exc.code, exc.params)) from None
    headers, rows = _rows(cells, max_rows=max_rows)
    return Table(fmt="xlsx", encoding="", headers=headers, rows=rows)


def parse_in_child(data: bytes, *, max_rows: int, max_cell_chars: int) -> list[list[str]]:
    """`sheet.parse` in a child process whose address space and CPU time are capped, and whose
    wall time is bounded: a file that gets past the zip checks and still blows up costs the
    child, never the worker or the web process (a limit set in the worker itself would stay)."""
    memory = settings.IMPORT_PARSE_MEMORY_MB * MB
    seconds = settings.IMPORT_PARSE_SECONDS
    options = {
        "memory_bytes": memory,
        "cpu_seconds": seconds,
        "max_rows": max_rows,
        "max_cell_chars": max_cell_chars,
    }
    try:
        done = subprocess.run(  # noqa: S603  (our own interpreter and module, options as JSON)
            [sys.executable, "-I", str(Path(sheet.__file__)), json.dumps(options)],
            input=data,
            capture_output=True,
            timeout=2 * seconds + 5,  # wall time: CPU time plus a loaded machine's waits
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise sheet.SheetProblem("time", limit=seconds) from None
    if done.returncode == -signal.SIGXCPU or done.returncode == -signal.SIGKILL:
        raise sheet.SheetProblem("time", limit=seconds)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        # Killed or failed without an answer: out of memory is the likely cause (RLIMIT_AS).
        logger.warning("xlsx parse child failed (%s): %s", done.returncode, done.stderr[-500:])
        raise sheet.SheetProblem("memory", limit=memory) from None
    if "problem" in result:
        if result["problem"] == "memory":
            raise sheet.SheetProblem("memory", limit=memory)
        raise sheet.SheetProblem(result["problem"], **result.get("params", {}))
    return [[str(c) for c in row] for row in result["cells"]]
