"""Reading an uploaded file into rows of text: CSV in any encoding Chinese Excel saves, or .xlsx.

CSV: a UTF-8 byte-order mark means UTF-8 (`utf-8-sig`); otherwise the file is decoded as strict
UTF-8, and if that fails as GB18030 (a superset of GBK and GB2312: what "CSV" from Chinese
Excel is). A file that is neither is refused, never read with replacement characters.
Excel: the first sheet, with cell values as text (a date as ISO, a whole number without ".0").
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from dataclasses import dataclass

from django.utils.translation import gettext as _


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


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


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


def read_table(data: bytes, *, name: str, max_rows: int) -> Table:
    """The rows of an uploaded file; `FileProblem` if it cannot be read at all."""
    if not data:
        raise FileProblem(_("文件是空的"))
    lower = name.lower()
    if data.startswith(XLSX_MAGIC) or lower.endswith(".xlsx"):
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
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise FileProblem(_("Excel 文件已损坏或不是 .xlsx 格式")) from None
    try:
        sheet = book.worksheets[0]
        cells = []
        for row in sheet.iter_rows(values_only=True):
            cells.append([_text(v) for v in row])
            if len(cells) > max_rows + 1000:  # blank rows are skipped later; stop a runaway sheet
                break
    finally:
        book.close()
    headers, rows = _rows(cells, max_rows=max_rows)
    return Table(fmt="xlsx", encoding="", headers=headers, rows=rows)
