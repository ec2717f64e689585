"""Forms of the renewal, suspension/resumption, termination and legal-hold pages (links/request_views.py)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .requests.suspension import SuspensionReason


class CertificateForm(forms.Form):
    serial = forms.CharField(label=_("新证书序列号"), max_length=100)
    expires_on = forms.DateField(label=_("新证书到期日"), widget=forms.DateInput(attrs={"type": "date"}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("说明"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class SuspensionForm(ReasonForm):
    reason_code = forms.ChoiceField(
        label=_("暂停原因"),
        choices=[(c.value, c.label) for c in SuspensionReason if c != SuspensionReason.DORMANT],
    )
    field_order = ["reason_code", "reason"]
