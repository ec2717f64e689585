from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from onboarding.form_fields import DateField

from .models import BreakGlassGrant


class AuditFilterForm(forms.Form):
    case = forms.CharField(label=_("案件编号/企业"), required=False, max_length=100)
    person = forms.CharField(label=_("人员(用户名或姓名)"), required=False, max_length=150)
    branch = forms.TypedChoiceField(label=_("机构"), required=False, coerce=int, empty_value=None)
    date_from = DateField(label=_("起始日期"), required=False)
    date_to = DateField(label=_("截止日期"), required=False)

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("起始日期不能晚于截止日期。"))
        return data


class CaseLookupForm(forms.Form):
    reference = forms.CharField(label=_("案件编号"), max_length=20)


class BreakGlassForm(forms.Form):
    ground = forms.ChoiceField(label=_("查阅依据"), choices=BreakGlassGrant.Ground.choices)
    reason = forms.CharField(
        label=_("查阅事由(将被记录并供审计查看)"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000
    )
