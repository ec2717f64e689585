"""A case list, as filtered, in CSV or Excel with Chinese headers, streamed.

CSV is written row by row into a `StreamingHttpResponse` (UTF-8 with a BOM, what Excel
expects); so is Excel, its sheet XML written into a zip as the rows come (see `xlsx_stream`
for why not openpyxl), so neither holds the list in memory. Cases are read as tuples with
`iterator(chunk_size=…)`.

Formula injection: a text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return
is what a spreadsheet may run as a formula (OWASP "CSV injection"); such values get a leading
apostrophe, which Excel and LibreOffice show as text. Numbers and dates are written as what
they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from casetypes import declaration
from onboarding.models import OnboardingCase
from onboarding.states import Module

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000


def neutralise(value: Any) -> Any:
    """A value safe to put in a spreadsheet cell: text that a spreadsheet would read as a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def headers() -> list[str]:
    return [
        _("编号"),
        _("企业名称"),
        _("统一社会信用代码"),
        _("状态"),
        _("受理机构"),
        _("客户经理"),
        _("功能模块"),
        _("企业ERP/财资系统"),
        _("费用(元)"),
        _("目标上线日期"),
        _("当前阶段进入时间"),
        _("办理时限"),
        _("创建时间"),
        _("最近更新"),
    ]


def _local(value: dt.datetime | None) -> dt.datetime | None:
    return timezone.localtime(value).replace(tzinfo=None, microsecond=0) if value is not None else None


FIELDS = (
    "reference",
    "company_version__name",
    "company_version__uscc",
    "enterprise__name",
    "enterprise__uscc",
    "state",
    "branch__name",
    "account_manager__display_name",
    "account_manager__username",
    "modules",
    "erp_system",
    "fee_amount",
    "target_date",
    "current_visit__entered_at",
    "current_visit__due_at",
    "created_at",
    "updated_at",
)


def rows(qs: QuerySet[OnboardingCase]) -> Iterator[list[Any]]:
    """One list of cell values per case, in the order of `headers()`, read in chunks.

    Plain tuples rather than model instances: building 100,000 cases with five related rows each
    costs several times the query itself. The company is the case's version (what head office
    approved), else the company as it is.
    """
    modules = {code: str(label) for code, label in Module.choices}
    states = {code: str(label) for code, label in declaration.state_labels().items()}
    for (
        reference,
        version_name,
        version_uscc,
        name,
        uscc,
        state,
        branch,
        manager_name,
        manager_username,
        case_modules,
        erp_system,
        fee_amount,
        target_date,
        entered_at,
        due_at,
        created_at,
        updated_at,
    ) in qs.values_list(*FIELDS).iterator(chunk_size=CHUNK):
        yield [
            reference,
            version_name or name,
            version_uscc or uscc,
            states.get(state, state),
            branch,
            manager_name or manager_username or "",
            "、".join(modules.get(m, m) for m in case_modules or ()),
            erp_system,
            fee_amount,
            target_date,
            _local(entered_at),
            _local(due_at),
            _local(created_at),
            _local(updated_at),
        ]


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(neutralise(value))


class _Line:
    """A file-like object whose `write` returns what it was given (Django's streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def csv_stream(table: Iterable[list[Any]]) -> Iterator[bytes]:
    writer = csv.writer(_Line())
    yield "\ufeff".encode()
    yield writer.writerow(headers()).encode("utf-8")
    for row in table:
        yield writer.writerow([_csv_text(v) for v in row]).encode("utf-8")


# --- Excel: the workbook's XML written row by row into a zip that is streamed as it grows ------------
#
# openpyxl's write-only mode costs about 50 µs a cell here (0.7 ms a row of 14 cells): 100,000
# rows took over a minute, past the web workers' timeout, and nothing is sent before the file is
# complete. A sheet of plain values needs little of it: inline strings, numbers, and dates as
# serial numbers with one of two number formats. The zip is written to a sink that hands its
# bytes to the response as they come (`zipfile` writes data descriptors on a stream it cannot
# seek), so the first bytes leave at once and memory holds one batch of rows.

_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 (Excel counts days in local wall-clock time)
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_STATIC = {
    "[Content_Types].xml": (
        f'{_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'{_DECL}<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'{_DECL}<Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
    ),
    # Styles: 0 plain, 1 date and time, 2 date, 3 bold (the header row).
    "xl/styles.xml": (
        f'{_DECL}<styleSheet xmlns="{_NS}">'
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
        '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
    ),
}
BATCH = 500


def _xml_text(value: str) -> str:
    return escape(_ILLEGAL_XML.sub("", value))


def _xlsx_cell(value: Any, style: str = "") -> str:
    if value is None or value == "":
        return "<c/>"
    if isinstance(value, bool):
        return f'<c t="b"><v>{int(value)}</v></c>'
    if isinstance(value, dt.datetime):
        serial = (value.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
        return f'<c s="1"><v>{serial:.8f}</v></c>'
    if isinstance(value, dt.date):
        return f'<c s="2"><v>{(value - _EPOCH.date()).days}</v></c>'
    if isinstance(value, (int, float, Decimal)):
        return f"<c><v>{value}</v></c>"
    return f'<c t="inlineStr"{style}><is><t xml:space="preserve">{_xml_text(str(neutralise(value)))}</t></is></c>'


class _Sink(io.RawIOBase):
    """A write-only stream that keeps what is written until the response takes it."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def xlsx_stream(table: Iterable[list[Any]], *, sheet_name: str | None = None) -> Iterator[bytes]:
    """The workbook's bytes, as it is written: one sheet, the Chinese headers in bold."""
    sink = _Sink()
    name = _xml_text((sheet_name or _("案件列表"))[:31])
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
        for part, xml in _STATIC.items():
            z.writestr(part, xml)
        z.writestr(
            "xl/workbook.xml",
            f'{_DECL}<workbook xmlns="{_NS}" xmlns:r="{_REL}">'
            f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        yield sink.take()
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            head = "".join(_xlsx_cell(h, ' s="3"') for h in headers())
            sheet.write(f'{_DECL}<worksheet xmlns="{_NS}"><sheetData><row r="1">{head}</row>'.encode())
            batch: list[str] = []
            for number, row in enumerate(table, start=2):
                batch.append(f'<row r="{number}">{"".join(_xlsx_cell(v) for v in row)}</row>')
                if len(batch) >= BATCH:
                    sheet.write("".join(batch).encode())
                    batch.clear()
                    yield sink.take()
            sheet.write(("".join(batch) + "</sheetData></worksheet>").encode())
    yield sink.take()
