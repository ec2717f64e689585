"""Changes made in the Django admin to companies, users and their roles (groups), role groups
and authenticators become access events (kind admin_change): who, what, old → new.

`audit_admin_changes()` (called from AuditConfig.ready, once every app has registered its
admin) wraps the registered ModelAdmin of each model in AUDITED, so the apps keep their own
admin classes. Values of secret fields are never written, only that they changed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest

AUDITED = ["companies.Enterprise", "accounts.User", "auth.Group", "mfa.Authenticator"]
SECRET_FIELDS = {"password", "data", "secret", "secrets"}
MAX_VALUE = 300


def _value(value: Any) -> Any:
    if isinstance(value, QuerySet | list | tuple | set):
        return sorted(str(v) for v in value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, models.Model):
        return str(value)
    return str(value)[:MAX_VALUE]


def _changes(form: ModelForm, *, adding: bool) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for name in form.changed_data:
        if name in SECRET_FIELDS or "password" in name:
            changes[name] = ["***", "***"]
            continue
        old = None if adding else form.initial.get(name)
        if isinstance(old, list) and name in form.fields and hasattr(form.fields[name], "queryset"):
            pks = [getattr(v, "pk", v) for v in old]
            old = list(form.fields[name].queryset.filter(pk__in=pks))  # type: ignore[attr-defined]
        changes[name] = [_value(old), _value(form.cleaned_data.get(name))]
    return changes


def _summary(action: str, label: str, obj: Any, changes: dict[str, list[Any]], related: list[str]) -> str:
    parts = [f"{action} {label} “{obj}” (#{obj.pk})"]
    parts += [f"{name}: {old} → {new}" for name, (old, new) in changes.items()]
    parts += related
    return "; ".join(parts)[:4000]


def _record(request: HttpRequest, *, action: str, obj: Any, changes: dict[str, list[Any]], related: list[str]) -> None:
    from .models import AccessEvent
    from .services import access_record

    label = str(obj._meta.verbose_name)
    access_record(
        kind=AccessEvent.Kind.ADMIN_CHANGE,
        actor=request.user,
        request=request,
        reason=_summary(action, label, obj, changes, related),
        data={
            "action": action,
            "model": obj._meta.label,
            "object_id": str(obj.pk),
            "object": str(obj)[:MAX_VALUE],
            "changes": changes,
            "related": related,
        },
    )


def _formset_changes(formsets: list[BaseFormSet]) -> list[str]:
    lines: list[str] = []
    for formset in formsets:
        for obj in getattr(formset, "new_objects", []):
            lines.append(f"+ {obj._meta.verbose_name} “{obj}”")
        for obj, fields in getattr(formset, "changed_objects", []):
            lines.append(f"~ {obj._meta.verbose_name} “{obj}”: {', '.join(fields)}")
        for obj in getattr(formset, "deleted_objects", []):
            lines.append(f"- {obj._meta.verbose_name} “{obj}”")
    return lines


class AuditedAdminMixin(admin.ModelAdmin):
    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        changes = _changes(form, adding=not change)
        related = _formset_changes(formsets)
        if changes or related or not change:
            _record(request, action="change" if change else "add", obj=form.instance, changes=changes, related=related)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        _record(request, action="delete", obj=obj, changes={}, related=[])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            _record(request, action="delete", obj=obj, changes={}, related=[])
        super().delete_queryset(request, queryset)


def audit_admin_changes(site: admin.AdminSite = admin.site) -> None:
    from django.apps import apps

    for label in AUDITED:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        current = site._registry.get(model)
        if current is None or isinstance(current, AuditedAdminMixin):
            continue
        audited = type(f"Audited{type(current).__name__}", (AuditedAdminMixin, type(current)), {})
        site.unregister(model)
        site.register(model, audited)
