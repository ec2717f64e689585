"""`config.widgets.FastSelect` writes what Django's `Select` writes (without the blank lines its
templates leave), the first time and every time after (the options of string choices are kept
between renders), in the language of the moment; the search box and the checkbox write what
Django's inputs write."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.utils.translation import gettext_lazy, override

from config.widgets import FastCheckboxInput, FastSelect, FastTextInput


def django(choices, value) -> str:
    return re.sub(r"\n\s*\n", "\n", forms.Select(choices=choices).render("branch", value, {"id": "id_branch"}))


CHOICES = [("", "全部"), ("1", "A&B<支行>"), ("2", '"乙"支行'), ("1", "同一个值")]


@pytest.mark.parametrize("value", [None, "", "1", "2", "9", 2])
def test_it_writes_what_djangos_select_writes(value) -> None:
    want = django(CHOICES, value)
    for _ in range(3):  # then from the options kept
        assert FastSelect(choices=CHOICES).render("branch", value, {"id": "id_branch"}) == want


def test_another_choice_or_label_is_written_as_it_is_now() -> None:
    FastSelect(choices=CHOICES).render("branch", "1", {"id": "id_branch"})
    renamed = [*CHOICES[:1], ("1", "改名后的支行"), *CHOICES[2:]]
    assert FastSelect(choices=renamed).render("branch", "1", {"id": "id_branch"}) == django(renamed, "1")


def test_lazy_labels_are_translated_at_each_render() -> None:
    choices = [("", gettext_lazy("全部")), ("a", "甲")]
    shown = {}
    for language in ("en", "zh-hans", "en"):
        with override(language):
            html = FastSelect(choices=choices).render("branch", "", {"id": "id_branch"})
            assert html == django(choices, "")
            shown.setdefault(language, html)
    assert shown["en"] != shown["zh-hans"]


@pytest.mark.parametrize("value", [None, "", "甲&乙<公司>", '"引号"', 12])
def test_the_search_box_writes_what_djangos_text_input_writes(value) -> None:
    attrs = {"id": "id_q", "aria-invalid": "true", "required": True, "disabled": False}
    assert FastTextInput().render("q", value, attrs) == forms.TextInput().render("q", value, attrs)


@pytest.mark.parametrize("value", [None, "", True, False, "on", "x<y"])
def test_the_checkbox_writes_what_djangos_checkbox_writes(value) -> None:
    assert FastCheckboxInput().render("overdue", value, {"id": "id_overdue"}) == forms.CheckboxInput().render(
        "overdue", value, {"id": "id_overdue"}
    )
