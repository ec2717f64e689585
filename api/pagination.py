"""Lists of the API by cursor (issue 26): no page numbers, no COUNT(*), no OFFSET.

A list is ordered by (a time, id), both ascending or both descending (the queryset's own
`order_by`). The `next` and `previous` links carry an opaque `cursor`: the key of the last
(or first) row shown, so the database seeks to it along its index and page 1,000 costs what
page 1 does. Rows written while a client walks the list are never shown twice nor skipped.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from config import keyset


class KeysetPagination(BasePagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_query_param = "cursor"
    invalid_cursor_message = "Invalid cursor: follow the `next` and `previous` links as given."

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.size = self._page_size(request)
        field, pk_field, descending = self._order(queryset)
        self.field = field
        self.descending = descending
        page = request.query_params.get("page")
        if page not in (None, "", "1") and self.cursor_query_param not in request.query_params:
            # The page-number API (until issue 26): a number past 1 would silently answer
            # page 1 again, so a client looping on numbers is told instead.
            raise NotFound("Page numbers are no longer supported: follow the `next` link of each page.")
        cursor = self._decode(request.query_params.get(self.cursor_query_param))
        qs = queryset
        backwards = False
        if cursor is not None:
            direction, raw_at, pk = cursor
            try:
                at = queryset.model._meta.get_field(field).to_python(raw_at)
            except DjangoValidationError:
                raise NotFound(self.invalid_cursor_message) from None
            backwards = direction == "p"
            forward_desc = descending != backwards  # walking back reads the other way round
            qs = qs.filter(keyset.after_q(field, at, pk, descending=forward_desc, pk_field=pk_field))
            if backwards:
                qs = qs.reverse()
        rows = list(qs[: self.size + 1])
        more = len(rows) > self.size
        rows = rows[: self.size]
        if backwards:
            rows.reverse()
            self.has_previous, self.has_next = more, True
        else:
            self.has_previous, self.has_next = cursor is not None, more
        self.rows = rows
        return rows

    def _page_size(self, request: Request) -> int:
        try:
            asked = int(request.query_params.get(self.page_size_query_param, self.page_size))
        except (TypeError, ValueError):
            return self.page_size
        return max(1, min(asked, self.max_page_size))

    @staticmethod
    def _order(queryset: QuerySet) -> tuple[str, str, bool]:
        order = [str(o) for o in (queryset.query.order_by or queryset.model._meta.ordering)]
        if len(order) != 2 or order[0].startswith("-") != order[1].startswith("-"):
            raise ValueError(f"keyset pages need an order by (time, id) in one direction, not {order!r}")
        descending = order[0].startswith("-")
        field, pk_field = (o.lstrip("-") for o in order)
        if pk_field not in ("pk", "id"):
            raise ValueError(f"the second key of a keyset order is the id, not {pk_field!r}")
        return field, pk_field, descending

    def _decode(self, text: str | None) -> tuple[str, Any, int] | None:
        if not text:
            return None
        try:
            direction, at, pk = json.loads(base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)))
            if direction not in ("n", "p"):
                raise ValueError
            return direction, at, int(pk)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise NotFound(self.invalid_cursor_message) from None

    def _link(self, direction: str, row: Any) -> str:
        at = getattr(row, self.field)
        if isinstance(at, dt.datetime | dt.date):
            at = at.isoformat()  # to the microsecond (DjangoJSONEncoder cuts to the millisecond)
        raw = json.dumps([direction, at, row.pk], separators=(",", ":"))
        token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        url = remove_query_param(self.base_url, "page")
        return replace_query_param(url, self.cursor_query_param, token)

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.rows:
            return None
        return self._link("n", self.rows[-1])

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.rows:
            return remove_query_param(remove_query_param(self.base_url, self.cursor_query_param), "page")
        return self._link("p", self.rows[0])

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page, null on the last; follow it as given (an opaque cursor, no page numbers).",
                },
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link (no page numbers, no total count).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, at most {self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer"},
            },
        ]
