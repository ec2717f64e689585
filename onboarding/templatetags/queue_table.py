"""`{% queue_table_rows items cells %}`: the dashboard's 轮到我办理 rows (`onboarding/queue_rows.py`),
with the forecast columns the template brought from the analytics app (`{% forecast_cells %}`);
`{% queue_kinds_line kinds %}`: the line of kinds under its heading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape  # Django's escape is this one behind a lazy-string wrapper

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import formats
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from ..queue import KindCount, QueueItem
from ..queue_rows import queue_rows

register = template.Library()


@register.simple_tag(takes_context=True)
def queue_table_rows(context: template.Context, items: Sequence[QueueItem], cells: Mapping[int, str]) -> SafeString:
    return queue_rows(items, request=context["request"], forecast_cells=cells)


@register.simple_tag
def queue_kinds_line(kinds: Sequence[KindCount]) -> SafeString:
    """Each kind the person has items of, its number and a link to its pages, the markup the
    template's loop of `{% blocktranslate %}` wrote (0.4 ms of the template engine's CPU a
    dashboard): the two texts translated once, the address reversed once."""
    queue_url = reverse("queue_all")
    plain_ints = not settings.USE_THOUSAND_SEPARATOR
    more, counted = _("%(label)s:超过 %(n)s 项"), _("%(label)s:%(n)s 项")
    links = []
    for kind in kinds:
        url = queue_url if kind.key == "stage" else f"{queue_url}?kind={kind.key}"
        n = str(kind.count) if plain_ints else formats.localize(kind.count)
        text = (more if kind.over_limit else counted) % {"label": escape(str(kind.label)), "n": escape(n)}
        links.append(f'<a href="{escape(url)}">{text}</a>')
    return mark_safe(f'<p class="queue-kinds">{" · ".join(links)}</p>')  # noqa: S308 - every value escaped
