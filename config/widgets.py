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
from django.forms.widgets import Input
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def _conditional_escape(text: Any) -> str:
    # django.utils.html.conditional_escape, likewise: safe strings as they are.
    if isinstance(text, Promise):
        text = str(text)
    return text.__html__() if hasattr(text, "__html__") else html.escape(str(text))  # type: ignore[no-any-return]


def _attrs(attrs: dict[str, Any]) -> SafeString:
    # django/forms/widgets/attrs.html: False leaves the attribute out, True writes its name alone;
    # each name and value escaped as format_html escapes them (a fifth of a select's CPU was
    # format_html's own).
    esc = _conditional_escape
    return mark_safe(  # noqa: S308 - every name and value escaped
        "".join(
            f" {esc(name)}" if value is True else f' {esc(name)}="{esc(str(value))}"'
            for name, value in attrs.items()
            if value is not False
        )
    )


# The options' markup of the string choices rendered lately, by choices: a list page offers the
# same hundreds of branches and managers on every request, and escaping each again cost more
# than the rest of the select. Bounded: emptied when full.
_OPTIONS: dict[tuple[tuple[str, str], ...], tuple[list[str], dict[str, int]]] = {}
_OPTIONS_KEPT = 64


class FastSelect(forms.Select):
    """`forms.Select` without templates, for flat choices (option groups fall back to Django's)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        if self.allow_multiple_selected:
            return super().render(name, value, attrs, renderer)
        chosen = self.format_value(value)
        head = format_html('<select name="{}"{}>', name, _attrs(self.build_attrs(self.attrs, attrs)))
        choices: list[Any] = self.choices if isinstance(self.choices, list) else list(self.choices)
        # Strings only (a lazy label is translated as it is rendered): their markup may be reused.
        if all(type(v) is str and type(label) is str for v, label in choices):
            key = tuple(choices)
            found = _OPTIONS.get(key)
            if found is None:
                if len(_OPTIONS) >= _OPTIONS_KEPT:
                    _OPTIONS.clear()
                escape = html.escape
                markup = [f'\n  <option value="{escape(v)}">{escape(label)}</option>' for v, label in choices]
                first: dict[str, int] = {}
                for i, (v, _label) in enumerate(choices):
                    first.setdefault(v, i)
                found = _OPTIONS[key] = (markup, first)
            options, first = found
            # As Django's: the first option matching the value is the selected one.
            selected = next((first[v] for v in chosen if v in first), None)
            if selected is not None:
                options = options.copy()
                options[selected] = options[selected].replace('">', '" selected>', 1)
            # Every value and label was escaped (html.escape is Django's escape's output).
            return mark_safe(f"{head}{''.join(options)}\n</select>")  # noqa: S308
        parts: list[str] = [head]
        chosen_set = set(chosen)
        escape = html.escape
        for option_value, label in choices:
            if type(label) is str:  # the usual label: escaped
                shown = escape(label)
            elif isinstance(label, (list, tuple)):  # an option group: Django's templates
                return super().render(name, value, attrs, renderer)
            else:  # anything else as Django would
                shown = _conditional_escape(label)
            if type(option_value) is not str:
                option_value = "" if option_value is None else str(option_value)
            # As Django's: the first option matching the value is the selected one.
            selected_here = option_value in chosen_set
            if selected_here:
                chosen_set = set()
            parts.append(
                f'\n  <option value="{escape(option_value)}"{" selected" if selected_here else ""}>{shown}</option>'
            )
        parts.append("\n</select>")
        # Every value and label above was escaped (html.escape is Django's escape's output).
        return mark_safe("".join(parts))  # noqa: S308


def _input(widget: Input, name: str, value: Any, attrs: dict[str, Any] | None) -> SafeString:
    # django/forms/widgets/input.html: the type, the name, the value unless None, the attributes.
    shown = widget.format_value(value)
    return format_html(
        '<input type="{}" name="{}"{}{}>',
        widget.input_type,
        name,
        "" if shown is None else format_html(' value="{}"', str(shown)),
        _attrs(widget.build_attrs(widget.attrs, attrs)),
    )


class FastTextInput(forms.TextInput):
    """`forms.TextInput` without its template (a list page's search box)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        return _input(self, name, value, attrs)


class FastCheckboxInput(forms.CheckboxInput):
    """`forms.CheckboxInput` without its template (a list page's filter)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        if self.check_test(value):
            attrs = {**(attrs or {}), "checked": True}
        return _input(self, name, value, attrs)


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
