"""`{% queue_table_rows items cells %}`: the dashboard's 轮到我办理 rows (`onboarding/queue_rows.py`),
with the forecast columns the template brought from the analytics app (`{% forecast_cells %}`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django import template
from django.utils.safestring import SafeString

from ..queue import QueueItem
from ..queue_rows import queue_rows

register = template.Library()


@register.simple_tag(takes_context=True)
def queue_table_rows(context: template.Context, items: Sequence[QueueItem], cells: Mapping[int, str]) -> SafeString:
    return queue_rows(items, request=context["request"], forecast_cells=cells)
