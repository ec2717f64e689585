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
        if self.allow_multiple_selected:
            return super().render(name, value, attrs, renderer)
        chosen = set(self.format_value(value))
        parts: list[str] = [format_html('<select name="{}"{}>', name, _attrs(self.build_attrs(self.attrs, attrs)))]
        escape = html.escape
        for option_value, label in self.choices:
            if type(label) is str:  # the usual label: escaped
                shown = escape(label)
            elif isinstance(label, (list, tuple)):  # an option group: Django's templates
                return super().render(name, value, attrs, renderer)
            else:  # anything else as Django would
                shown = _conditional_escape(label)
            if type(option_value) is not str:
                option_value = "" if option_value is None else str(option_value)
            # As Django's: the first option matching the value is the selected one.
            selected = option_value in chosen
            if selected:
                chosen = set()
            parts.append(
                f'\n  <option value="{escape(option_value)}"{" selected" if selected else ""}>{shown}</option>'
            )
        parts.append("\n</select>")
        # Every value and label above was escaped (html.escape is Django's escape's output).
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
