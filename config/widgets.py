"""Form widgets that render in Python what Django's widget templates would.

A list page's filter form offers every branch and every account manager in scope: Django's
`Select` renders each option through two included templates, which at 57 branches and a
hundred managers cost more than the rest of the page (issue 26). `FastSelect` writes the same
markup with `format_html`.
"""

from __future__ import annotations

import html
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def _escape(text: str) -> str:
    # django.utils.html.escape's output (it is html.escape) without its lazy-string wrapper:
    # a list page escapes two hundred options.
    return html.escape(text)


def _conditional_escape(text: Any) -> str:
    # django.utils.html.conditional_escape, likewise: safe strings as they are.
    if isinstance(text, Promise):
        text = str(text)
    return text.__html__() if hasattr(text, "__html__") else html.escape(str(text))  # type: ignore[no-any-return]


def _attrs(attrs: dict[str, Any]) -> SafeString:
    # django/forms/widgets/attrs.html: False leaves the attribute out, True writes its name alone.
    return format_html_join(
        "",
        "{}",
        (
            (format_html(' {}="{}"', name, str(value)) if value is not True else format_html(" {}", name),)
            for name, value in attrs.items()
            if value is not False
        ),
    )


class FastSelect(forms.Select):
    """`forms.Select` without templates, for flat choices (option groups fall back to Django's)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        choices = list(self.choices)
        if self.allow_multiple_selected or any(isinstance(label, (list, tuple)) for _v, label in choices):
            return super().render(name, value, attrs, renderer)
        chosen = set(self.format_value(value))
        parts: list[str] = [format_html('<select name="{}"{}>', name, _attrs(self.build_attrs(self.attrs, attrs)))]
        for option_value, label in choices:
            option_value = "" if option_value is None else str(option_value)
            # As Django's: the first option matching the value is the selected one.
            selected = option_value in chosen
            if selected:
                chosen = set()
            parts.append(
                f'\n  <option value="{_escape(option_value)}"{" selected" if selected else ""}>'
                f"{_conditional_escape(label)}</option>"
            )
        parts.append("\n</select>")
        # Every value and label above went through _escape() / _conditional_escape().
        return mark_safe("".join(parts))  # noqa: S308


class FastChoiceField(forms.ChoiceField):
    """`forms.ChoiceField` with `FastSelect`, for flat choices already made of (value, label)
    strings: they are taken as given. Django normalises the choices on every assignment, twice
    (the field's, then the widget's), walking every option: 500 walks a case list page for its
    branches and account managers."""

    widget = FastSelect

    @property  # type: ignore[override]
    def choices(self) -> Any:
        return self._choices

    @choices.setter
    def choices(self, value: Any) -> None:
        value = value if isinstance(value, list) else list(value)
        # Past both setters (`ChoiceField.choices`, `ChoiceWidget.choices`): what they store.
        self._choices = self.widget._choices = value  # type: ignore[attr-defined]
