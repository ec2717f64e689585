"""`{% route name arg … %}`: `{% url %}` for routes whose arguments are ids, reversed once per
process (`config.routes`); the same address, escaped as `{% url %}` escapes it."""

from __future__ import annotations

from typing import Any

from django import template

from config.routes import route as _route

register = template.Library()


@register.simple_tag
def route(name: str, *args: Any) -> str:
    return _route(name, *args)
