"""`{% case_list_body rows cells %}`: the case list's rows (`onboarding.views.case_list_rows`), each
with its forecast column, which the template brought from the analytics app (`{% forecast_cells %}`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def case_list_body(rows: Sequence[Any], cells: Mapping[int, str]) -> SafeString:
    # Both parts are markup already escaped: the rows' by `case_list_rows`, the cells' by analytics.
    return mark_safe("".join(f"{row.cells}{cells[row.pk]}\n</tr>" for row in rows))  # noqa: S308
