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


def message(msgid: str, args: dict[str, Any]) -> str:
    """A sentence written by the system and kept as its msgid and arguments (a sweep's reason),
    in the active language. A string argument is passed through gettext too: a label written as
    its msgid ("高风险") reads in the reader's language, a date or a number is left as it is."""
    words = {k: translation.gettext(v) if isinstance(v, str) and v else v for k, v in args.items()}
    try:
        return translation.gettext(msgid) % words
    except (KeyError, TypeError, ValueError):  # a msgid and arguments that no longer match
        return msgid


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
