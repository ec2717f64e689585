"""The audit log's filters and its CSV: read by the log page and by the exports (`transfers`), which
stream a short log and hand a long one to a worker."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Branch
from casetypes import declaration
from onboarding import events
from onboarding.models import StageCount

from . import selectors
from .forms import AuditFilterForm


def _branches(*, with_cases: bool) -> list[tuple[int, str, str, int | None]]:
    """Every branch as a plain (id, name, path, cases) row, in path order: the filter's choices,
    and the subtree of the one chosen. With its number of cases on PostgreSQL when a branch is
    chosen (the `StageCount` rows its triggers keep: 645 rows summed at 100,000 cases, ~0.2 ms
    more); else the count is not known (None)."""
    qn = connection.ops.quote_name
    b, s = qn(Branch._meta.db_table), qn(StageCount._meta.db_table)
    if not with_cases or connection.vendor != "postgresql":
        sql = f"SELECT b.{qn('id')}, b.{qn('name')}, b.{qn('path')}, NULL FROM {b} b ORDER BY b.{qn('path')} ASC"  # noqa: S608
    else:
        sql = (
            f"SELECT b.{qn('id')}, b.{qn('name')}, b.{qn('path')}, COALESCE(s.{qn('n')}, 0) FROM {b} b"  # noqa: S608 (names from the models)
            f" LEFT JOIN (SELECT {qn('branch_id')}, SUM({qn('n')}) AS {qn('n')} FROM {s} GROUP BY {qn('branch_id')}) s"
            f" ON s.{qn('branch_id')} = b.{qn('id')} ORDER BY b.{qn('path')} ASC"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def audit_filters(params: Any) -> tuple[AuditFilterForm, dict[str, Any] | None]:
    """The log's filter form over a query string (a `QueryDict`), and the filters it selects
    (None when the form cannot be read): the log page, its export, and an export a worker writes."""
    form = AuditFilterForm(params or None)
    branches = _branches(with_cases=bool(params.get("branch")))
    form.fields["branch"].choices = [("", _("全部"))] + [(str(row[0]), row[1]) for row in branches]  # type: ignore[attr-defined]
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        chosen = next((row for row in branches if row[0] == data["branch"]), None)
        filters = {
            "case": data["case"],
            "person": data["person"],
            "branch": Branch(pk=chosen[0], name=chosen[1], path=chosen[2]) if chosen else None,
            "subtree": [row[0] for row in branches if row[2].startswith(chosen[2])] if chosen else None,
            "cases": _cases(branches, chosen[2]) if chosen else None,
            "date_from": data["date_from"],
            "date_to": data["date_to"],
        }
    elif form.is_bound:
        return form, None
    return form, filters


def _cases(branches: list[tuple[int, str, str, int | None]], path: str) -> tuple[int, int] | None:
    """(the subtree's cases, the bank's), when the branch rows know them."""
    if any(row[3] is None for row in branches):
        return None
    return sum(row[3] for row in branches if row[2].startswith(path)), sum(row[3] for row in branches)  # type: ignore[misc]


def _state_label(code: str) -> str:
    return declaration.state_label(code)


def _row(ev: dict[str, Any]) -> dict[str, Any]:
    return {
        **ev,
        "at": timezone.localtime(ev["at"]),
        "kind_label": selectors.KIND_LABELS.get(ev["ev_kind"], ev["ev_kind"]),
        "name_label": (
            events.label(ev["ev_name"])
            if ev["src"] == "case"
            else selectors.READ_VIEWS.get(ev["ev_name"], ev["ev_name"])
        ),
        "person": ev["who_name"] or ev["who"] or ev["typed_username"],
        "from_label": _state_label(ev["from_st"]),
        "to_label": _state_label(ev["to_st"]),
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "时间 Time",
    "来源 Source",
    "类型 Kind",
    "事件 Event",
    "案件编号 Case",
    "企业 Company",
    "机构 Branch",
    "用户名 Username",
    "姓名 Name",
    "原状态 From",
    "新状态 To",
    "事由 Reason",
    "地址 Address",
    "页面 Page",
]


EXPORT_CHUNK = 1000


def audit_rows(filters: dict[str, Any], *, chunk: int | None = None) -> Iterator[dict[str, Any]]:
    """Every row of the log matching `filters`, newest first, read in keyset chunks.

    Each chunk is its own short query seeking past the last row of the one before (no
    OFFSET, no cursor held open while the file downloads); rows written meanwhile are newer
    than the first chunk's key and do not shift what is still to come.
    """
    chunk = chunk or EXPORT_CHUNK
    after: selectors.AuditKey | None = None
    while True:
        rows = list(selectors.audit_events(**filters, after=after, limit=chunk)[:chunk])
        yield from rows
        if len(rows) < chunk:
            return
        after = selectors.AuditKey.of_row(rows[-1])


def csv_lines(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The CSV file's lines for the log's rows (`audit_rows`), a byte order mark first."""
    writer = csv.writer(_Echo())
    yield "\ufeff"  # UTF-8 byte order mark: Excel then reads the Chinese correctly
    yield writer.writerow(CSV_HEADER)
    for ev in events:
        r = _row(ev)
        yield writer.writerow(
            [
                r["at"].strftime("%Y-%m-%d %H:%M:%S"),
                r["src"],
                r["kind_label"],
                r["ev_name"],
                r["case_ref"] or "",
                r["company"] or "",
                r["branch_name"] or "",
                r["who"] or r["typed_username"],
                r["who_name"] or "",
                r["from_label"],
                r["to_label"],
                r["why"],
                r["address"],
                r["page"],
            ]
        )
