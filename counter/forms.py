from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from companies.models import Enterprise
from onboarding.form_fields import DateField
from onboarding.models import OnboardingCase

from .models import CounterEntry, OperatorRole, UKey
from .rules import operator_conflicts


class OperatorForm(forms.Form):
    renders_alike = True  # its empty fields are drawn once ({% form_fields %})
    name = forms.CharField(label=_("姓名"), max_length=60)
    id_number = forms.CharField(label=_("身份证号"), max_length=18, min_length=18)
    role = forms.ChoiceField(label=_("操作员角色"), choices=OperatorRole.choices)

    def __init__(self, *args: Any, enterprise: Enterprise | None = None, **kwargs: Any) -> None:
        self.enterprise = enterprise
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.enterprise is not None and data.get("name") and data.get("id_number"):
            conflicts = operator_conflicts(data["name"], data["id_number"], enterprise=self.enterprise)
            if conflicts:
                self.add_error("name", conflicts)
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("原因"), max_length=500, required=False)


class IdentityCheckForm(forms.Form):
    renders_alike = True  # its empty fields are drawn once ({% form_fields %})
    person = forms.ChoiceField(label=_("到柜人员"), choices=CounterEntry.Person.choices)
    person_name = forms.CharField(label=_("姓名(按身份证)"), max_length=60)
    id_number = forms.CharField(label=_("身份证号(按原件)"), max_length=18, min_length=18)
    notes = forms.CharField(label=_("备注"), max_length=300, required=False)


class UKeyIssueForm(forms.Form):
    operator = forms.TypedChoiceField(label=_("操作员"), coerce=int)
    serial = forms.CharField(label=_("K宝编号"), max_length=40)
    expires_on = DateField(label=_("证书到期日"), required=False, help_text=_("默认两年"))
    holder = forms.CharField(label=_("持有人(默认操作员本人)"), max_length=60, required=False)
    notes = forms.CharField(label=_("备注"), max_length=300, required=False)

    def __init__(self, *args: Any, case: OnboardingCase, operators: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if operators is None:  # the case page passes the operators it has read
            operators = list(case.operators.filter(removed_at__isnull=True).order_by("pk"))
        self.fields["operator"].choices = [(o.pk, str(o)) for o in operators]  # type: ignore[attr-defined]


class UKeyReplaceForm(forms.Form):
    serial = forms.CharField(label=_("新K宝编号"), max_length=40)
    expires_on = DateField(label=_("证书到期日"), required=False)
    notes = forms.CharField(label=_("补办原因"), max_length=300, required=False)


class ActivationForm(forms.Form):
    ukey = forms.TypedChoiceField(label=_("UKey"), coerce=int)
    notes = forms.CharField(label=_("备注"), max_length=300, required=False)

    def __init__(self, *args: Any, case: OnboardingCase, ukeys: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if ukeys is None:  # the case page passes the keys it has read, with their operators
            ukeys = list(case.ukeys.filter(status=UKey.Status.DOWNLOADED).select_related("operator"))
        self.fields["ukey"].choices = [(k.pk, f"{k.serial} · {k.operator.name}") for k in ukeys]  # type: ignore[attr-defined]


class CounterVisitForm(forms.Form):
    """One visit to the counter (issue 25): the identity check of the person who came, if the
    case still needs one, and a K宝 for each operator who has none, in one form."""

    person = forms.ChoiceField(label=_("到柜人员"), choices=[("", "—"), *CounterEntry.Person.choices], required=False)
    person_name = forms.CharField(label=_("姓名(按身份证)"), max_length=60, required=False)
    id_number = forms.CharField(label=_("身份证号(按原件)"), max_length=18, required=False)
    notes = forms.CharField(label=_("备注"), max_length=300, required=False)

    def __init__(self, *args: Any, operators: list[Any], identity_needed: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identity_needed = identity_needed
        if not identity_needed:
            for name in ("person", "person_name", "id_number", "notes"):
                del self.fields[name]
        self.operators = operators
        for operator in operators:
            self.fields[f"serial_{operator.pk}"] = forms.CharField(
                label=_("%(n)s 的K宝编号") % {"n": operator.name}, max_length=40, required=False
            )
            self.fields[f"expires_{operator.pk}"] = DateField(
                label=_("证书到期日"), required=False, help_text=_("默认两年")
            )

    def identity_fields(self) -> list[Any]:
        return [self[n] for n in ("person", "person_name", "id_number", "notes") if n in self.fields]

    def operator_rows(self) -> list[tuple[Any, Any, Any]]:
        return [(o, self[f"serial_{o.pk}"], self[f"expires_{o.pk}"]) for o in self.operators]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.identity_needed:
            typed = [data.get(f) for f in ("person", "person_name", "id_number")]
            if any(typed) and not all(typed):
                raise forms.ValidationError(_("身份核验须填写到柜人员、姓名和身份证号"))
        return data

    def identity(self) -> dict[str, str] | None:
        data = self.cleaned_data
        if not self.identity_needed or not data.get("person"):
            return None
        return {k: data[k] for k in ("person", "person_name", "id_number", "notes")}

    def issuances(self) -> list[tuple[Any, str, Any]]:
        data = self.cleaned_data
        return [
            (o, data[f"serial_{o.pk}"].strip(), data.get(f"expires_{o.pk}"))
            for o in self.operators
            if data.get(f"serial_{o.pk}", "").strip()
        ]
