"""`{% form_fields form %}`: a form's fields as `{% for field in form %}{% include
"onboarding/_field.html" %}{% endfor %}` writes them, drawn once per process for a form that
renders alike for everyone.

A form class whose unbound instance is the same for every reader and case (its fields, labels
and choices fixed, nothing passed in) says so with `renders_alike = True`; its empty fields
are then kept, per language and id pattern. Each field costs the template engine and the
widget templates about 0.3 ms, and the case page draws such forms on every request (the
message form, the counter's operator and identity forms). A bound form (errors, what was
typed) or one given initial values is drawn afresh every time.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django import template
from django.template.engine import Engine
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()
F = TypeVar("F")


def page_engine(context: template.Context) -> Engine:
    """The engine rendering this page, as `{% include %}` finds its template."""
    if context.template is not None:
        return context.template.engine
    return Engine.get_default()


_drawn: dict[tuple[Any, ...], SafeString] = {}
_alike: dict[tuple[Any, ...], Any] = {}


def alike(form_class: type[F], **kwargs: Any) -> F:
    """An unbound form of a class that renders alike for everyone (`renders_alike`), made once
    per process for these arguments (`auto_id` and the like: never data, initial values or
    anything of a case or reader): `{% form_fields %}` draws it from what it kept, so building
    the form anew on each page (its fields deep-copied: 20–70 µs) bought nothing."""
    assert getattr(form_class, "renders_alike", False), form_class
    key = (form_class, *sorted(kwargs.items()))
    form = _alike.get(key)
    if form is None:
        form = _alike[key] = form_class(**kwargs)
    return form  # type: ignore[no-any-return]


@register.simple_tag(takes_context=True)
def form_fields(context: template.Context, form: Any, visible: bool = False) -> SafeString:
    """`visible=True`: the visible fields only (`{% for field in form.visible_fields %}`), for
    a template that writes the hidden ones itself; initial values of hidden fields then change
    nothing drawn."""
    key = None
    hidden_initial = visible and all(form.fields[name].widget.is_hidden for name in form.initial)
    if getattr(form, "renders_alike", False) and not form.is_bound and (not form.initial or hidden_initial):
        key = (
            type(form),
            form.auto_id,
            form.prefix,
            form.label_suffix,
            form.use_required_attribute,
            get_language(),
            visible,
        )
        if key in _drawn:
            return _drawn[key]
    field_template = page_engine(context).get_template("onboarding/_field.html")
    parts = []
    for field in form.visible_fields() if visible else form:
        with context.push(field=field):
            parts.append(field_template.render(context))
    html = mark_safe("".join(parts))  # noqa: S308 - the template's own output, escaped by it
    if key is not None:
        _drawn[key] = html
    return html
