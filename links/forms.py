from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from config.widgets import FastSelect
from onboarding.form_fields import DateField

from .models import LinkStatus


class LinkFilterForm(forms.Form):
    q = forms.CharField(label=_("企业/编号"), required=False, max_length=100)
    branch = forms.ChoiceField(label=_("机构"), required=False, widget=FastSelect)
    status = forms.ChoiceField(label=_("服务状态"), required=False, widget=FastSelect)
    expiring = forms.IntegerField(label=_("证书到期(天内)"), required=False, min_value=0, max_value=3650)
    dormant = forms.BooleanField(label=_("长期未动户"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["status"].choices = [("", _("全部")), *LinkStatus.choices]  # type: ignore[attr-defined]


class LossReportForm(forms.Form):
    ukey = forms.TypedChoiceField(label=_("挂失的UKey"), coerce=int)
    reason = forms.CharField(label=_("挂失原因"), max_length=300, required=False)

    def __init__(self, *args: object, keys: list[tuple[int, str]] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["ukey"].choices = keys or []  # type: ignore[attr-defined]


class ReplacementForm(forms.Form):
    serial = forms.CharField(label=_("新K宝编号"), max_length=40)
    expires_on = DateField(label=_("证书到期日"), required=False, help_text=_("默认两年"))
    notes = forms.CharField(label=_("备注"), max_length=300, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("原因"), max_length=500)
