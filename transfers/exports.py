"""A case list, as filtered, in CSV or Excel with Chinese headers, streamed.

CSV is written row by row into a `StreamingHttpResponse` (UTF-8 with a BOM, what Excel
expects); Excel is written by openpyxl in write-only mode into a temporary file that is then
streamed, so neither holds the list in memory. Cases are read with `iterator(chunk_size=…)`.

Formula injection: a text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return
is what a spreadsheet may run as a formula (OWASP "CSV injection"); such values get a leading
apostrophe, which Excel and LibreOffice show as text. Numbers and dates are written as what
they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from onboarding.models import OnboardingCase
from onboarding.states import Module, State

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


def rows(qs: QuerySet[OnboardingCase]) -> Iterator[list[Any]]:
    """One list of cell values per case, in the order of `headers()`, read in chunks."""
    modules = dict(Module.choices)
    states = dict(State.choices)
    for case in qs.iterator(chunk_size=CHUNK):
        company = case.company_version or case.enterprise
        visit = case.current_visit
        manager = case.account_manager
        yield [
            case.reference,
            company.name,
            company.uscc,
            str(states.get(case.state, case.state)),
            case.branch.name,
            (manager.get_full_name() or manager.username) if manager is not None else "",
            "、".join(str(modules.get(m, m)) for m in case.modules),
            case.erp_system,
            case.fee_amount,
            case.target_date,
            _local(visit.entered_at) if visit is not None else None,
            _local(visit.due_at) if visit is not None else None,
            _local(case.created_at),
            _local(case.updated_at),
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


def _xlsx_value(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        # Control characters cannot be stored in a workbook at all (openpyxl refuses them).
        return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def xlsx_file(table: Iterable[list[Any]]) -> Any:
    """The workbook in a temporary file (deleted when closed), positioned at its start."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("案件列表"))
    sheet.append(headers())
    for row in table:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=_xlsx_value(value))
            if isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(value, str):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    out = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 (FileResponse closes it)
    book.save(out)
    out.seek(0)
    return out
