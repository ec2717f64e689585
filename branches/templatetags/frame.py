"""The frame every page draws: its navigation rendered once per kind of reader, not per request.

A staff page's navigation depends only on the reader's roles, whether they have a home branch
or a company, the language and the URL prefix; there are a few dozen such kinds of reader in a
bank. `{% frame_nav "…" %}` renders the named template the first time a kind of reader is seen
in this process and returns the same HTML after that: about a dozen `{% url %}` reversals and
as many translations per page saved (bench/profile_pages.py, "frame"). The navigation templates
must read nothing of the user but what `nav_key` holds (tests/test_frame.py renders them for
every role both ways). With DEBUG on, templates are re-read on change, so nothing is kept.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from ..roles import user_roles

register = template.Library()

_rendered: dict[tuple[Any, ...], SafeString] = {}
_urls: dict[tuple[str, str], str] = {}


def nav_key(template_name: str, user: Any) -> tuple[Any, ...]:
    """Everything a navigation template may depend on."""
    return (
        template_name,
        translation.get_language(),
        get_script_prefix(),
        user_roles(user),
        bool(getattr(user, "branch_id", None)),
        bool(getattr(user, "enterprise_id", None)),
    )


@register.simple_tag(takes_context=True)
def frame_nav(context: Any, template_name: str) -> SafeString:
    key = nav_key(template_name, context.get("user"))
    html = _rendered.get(key)
    if html is None:
        nav = context.template.engine.get_template(template_name)
        with context.push(user_role_codes=key[3]):
            html = mark_safe(nav.render(context))  # noqa: S308 (a template's own output, escaped by it)
        if not settings.DEBUG:
            _rendered[key] = html
    return html


@register.simple_tag
def frame_url(name: str) -> str:
    """`{% url name %}` for a route without arguments, reversed once per process and prefix."""
    key = (name, get_script_prefix())
    url = _urls.get(key)
    if url is None:
        url = _urls[key] = reverse(name)
    return url
