from __future__ import annotations

from django import template
from django.utils.html import format_html

from config.once import FIELD, new_token

register = template.Library()


@register.simple_tag
def form_token() -> str:
    """The hidden one-time token of a create form (config/once.py)."""
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
