"""Form fields shared by every app's forms.

Dates: an `<input type=date>` only understands `YYYY-MM-DD`, whatever the page's language. A
value in the locale's format (zh-hans: `2027/01/29`) is shown empty and posted back empty,
so an untouched edit would clear the date. Every date input of the project is rendered and
read through `DateField` / `DateInput` below, never Django's localized defaults.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

ISO_DATE_FORMAT = "%Y-%m-%d"


class DateInput(forms.DateInput):
    """`<input type=date>` with its value always in ISO form, whatever the active language."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=ISO_DATE_FORMAT)


class DateField(forms.DateField):
    """A date read from ISO (what a browser's date input posts) first, then the locale's formats."""

    widget = DateInput

    def to_python(self, value: Any) -> dt.date | None:
        if isinstance(value, str):
            try:
                return dt.datetime.strptime(value.strip(), ISO_DATE_FORMAT).date()  # noqa: DTZ007 (a date, no time)
            except ValueError:
                pass
        return super().to_python(value)
