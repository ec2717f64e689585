"""How each kind of notice reads, in the reader's language.

A notice is stored as its kind and parameters (`Notification.params`); the app that writes a
kind adds its renderer from its `AppConfig.ready()` (``@kinds.renderers.add(key="handoff")``):
a function of the parameters returning the notice in the active language (gettext). Shown on
the bell's page, the portal and in mails, each in the language of the page or the mail. A
row written before notices had parameters, or of a kind nobody renders, shows its text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import translation

from casetypes.extensions import ExtensionPoint

Render = Callable[[dict[str, Any]], str]
renderers: ExtensionPoint[Render] = ExtensionPoint(
    "notices.kinds", "how a notice of each kind reads (in the active language), from its parameters", unique_keys=True
)


def render(kind: str, params: dict[str, Any] | None, fallback: str = "") -> str:
    """The notice in the active language; its stored text when it has no parameters or renderer."""
    fn = renderers.one(kind) if kind and params else None
    if fn is None:
        return fallback
    try:
        return fn(params or {})
    except (KeyError, TypeError, ValueError):  # parameters from an older renderer: the text stands
        return fallback


def render_in(language: str, kind: str, params: dict[str, Any], fallback: str = "") -> str:
    with translation.override(language):
        return render(kind, params, fallback)


def bilingual(kind: str, params: dict[str, Any], fallback: str = "") -> str:
    """Chinese, then English (a mail goes to people whose language the product does not know)."""
    zh, en = render_in("zh-hans", kind, params, fallback), render_in("en", kind, params, fallback)
    return zh if zh == en else f"{zh}\n{en}"
