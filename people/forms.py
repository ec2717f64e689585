"""Forms: the new holder and the reason of a reassignment; an absence with its dates and substitute."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from branches.roles import user_roles
from onboarding.form_fields import DateField

from . import selectors
from .selectors import role_label


class ReassignForm(forms.Form):
    """Who takes the work over (a colleague of the actor's subtree) and why. The list offers
    those holding the role; anyone else posted is refused with the reason."""

    target = forms.ModelChoiceField(label=_("接手人"), queryset=None, empty_label=_("请选择"))  # type: ignore[arg-type]
    reason = forms.CharField(label=_("转交原因"), max_length=300, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, actor: Any, role: str, exclude: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role = role
        field = self.fields["target"]
        field.queryset = selectors.staff_in_scope(actor=actor).filter(is_active=True)  # type: ignore[attr-defined]
        offered = selectors.colleagues_with_role(actor=actor, role=role, exclude=exclude)
        field.choices = [("", _("请选择")), *((u.pk, f"{u} · {u.branch.name}") for u in offered)]
        field.label_from_instance = lambda u: f"{u} · {u.branch.name}"  # type: ignore[attr-defined]

    def clean_target(self) -> Any:
        target = self.cleaned_data["target"]
        if self.role not in user_roles(target):
            raise forms.ValidationError(
                _("%(who)s 不是%(role)s,不能接手该工作") % {"who": target, "role": role_label(self.role)}
            )
        return target


class AbsenceForm(forms.Form):
    person = forms.ModelChoiceField(label=_("休假人"), queryset=None, empty_label=None)  # type: ignore[arg-type]
    starts_on = DateField(label=_("开始日期"))
    ends_on = DateField(label=_("结束日期"))
    substitute = forms.ModelChoiceField(
        label=_("代办人"),
        queryset=None,  # type: ignore[arg-type]
        required=False,
        empty_label=_("本机构同岗位队列"),
        help_text=_("留空则由本机构同岗位人员共同代办"),
    )
    reason = forms.CharField(label=_("事由"), max_length=200, required=False)

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = selectors.staff_in_scope(actor=actor).filter(is_active=True)
        if not selectors.is_manager(actor):
            people = people.filter(pk=actor.pk)
        self.fields["person"].queryset = people  # type: ignore[attr-defined]
        self.fields["person"].initial = actor.pk
        self.fields["substitute"].queryset = selectors.substitute_choices(actor=actor)  # type: ignore[attr-defined]
        for name in ("person", "substitute"):
            self.fields[name].label_from_instance = lambda u: f"{u} · {u.branch.name if u.branch_id else ''}"  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("结束日期不能早于开始日期"))
        return data
