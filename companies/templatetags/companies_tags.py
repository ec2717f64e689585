"""Showing company data and its differences (old → new) in pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from companies.services import field_label

register = template.Library()


@register.filter
def company_field_label(name: str) -> str:
    return field_label(name)


@register.filter
def company_value(value: Any) -> str:
    if value is True:
        return _("是")
    if value is False:
        return _("否")
    if value in (None, ""):
        return "—"
    return str(value)
