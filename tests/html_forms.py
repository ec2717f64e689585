"""Read the forms of a rendered page the way a browser does, and post them back untouched.

A browser drops the value of an `<input type=date>` that is not `YYYY-MM-DD` (HTML's value
sanitisation algorithm): it shows the field empty and posts it empty. `browser_post_data`
does the same, so a test without Chromium sees what a person clicking "保存" would send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$")
_NOT_POSTED = {"submit", "button", "reset", "image", "file"}


@dataclass
class Control:
    tag: str
    name: str
    type: str = "text"
    value: str = ""
    checked: bool = False
    disabled: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)  # select: (value, selected)


@dataclass
class Form:
    action: str
    method: str
    controls: list[Control] = field(default_factory=list)

    def date_inputs(self) -> dict[str, str]:
        return {c.name: c.value for c in self.controls if c.tag == "input" and c.type in ("date", "datetime-local")}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Control | None = None
        self._option: tuple[str | None, bool] | None = None
        self._option_text = ""
        self._textarea: Control | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is None or ("name" not in a and tag in ("input", "select", "textarea")):
            return
        elif tag == "input":
            self._form.controls.append(
                Control(
                    "input",
                    a["name"],
                    type=a.get("type", "text").lower(),
                    value=a.get("value", ""),
                    checked="checked" in a,
                    disabled="disabled" in a,
                )
            )
        elif tag == "select":
            self._select = Control("select", a["name"], type="select", disabled="disabled" in a)
            self._form.controls.append(self._select)
        elif tag == "option" and self._select is not None:
            self._option = (a.get("value"), "selected" in a)
            self._option_text = ""
        elif tag == "textarea":
            self._textarea = Control("textarea", a["name"], type="textarea", disabled="disabled" in a)
            self._form.controls.append(self._textarea)

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option_text += data
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._select is not None and self._option is not None:
            value, selected = self._option
            self._select.options.append((value if value is not None else self._option_text.strip(), selected))
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # The HTML parser keeps the newline that follows <textarea>; a browser drops it.
            if self._textarea.value.startswith("\n"):
                self._textarea.value = self._textarea.value[1:]
            self._textarea = None
        elif tag == "form":
            self._form = None


def page_forms(html: str) -> list[Form]:
    parser = _Parser()
    parser.feed(html)
    return parser.forms


def browser_value(control: Control) -> str:
    """The value a browser keeps for a control (HTML value sanitisation for date inputs)."""
    if control.type == "date" and not ISO_DATE.match(control.value):
        return ""
    if control.type == "datetime-local" and not ISO_DATETIME_LOCAL.match(control.value):
        return ""
    return control.value


def browser_post_data(form: Form) -> dict[str, list[str]]:
    """What submitting `form` unchanged sends: checked boxes only, selected options, no disabled fields."""
    data: dict[str, list[str]] = {}
    for c in form.controls:
        if c.disabled or c.type in _NOT_POSTED:
            continue
        if c.type in ("checkbox", "radio"):
            if c.checked:
                data.setdefault(c.name, []).append(c.value or "on")
        elif c.tag == "select":
            chosen = [v for v, sel in c.options if sel] or [v for v, _sel in c.options[:1]]
            data.setdefault(c.name, []).extend(chosen)
        else:
            data.setdefault(c.name, []).append(browser_value(c))
    return data


def form_with(html: str, field_name: str) -> Form:
    """The one form of the page that holds a control named `field_name`."""
    matches = [f for f in page_forms(html) if any(c.name == field_name for c in f.controls)]
    assert len(matches) == 1, f"{len(matches)} forms hold {field_name!r}"
    return matches[0]
