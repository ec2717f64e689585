from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class UploadForm(forms.Form):
    # Empty files are allowed through here so that the service refuses them with its own
    # message, the same for the staff pages and the portal.
    file = forms.FileField(label=_("文件"), allow_empty_file=True)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", _("审核通过")), ("reject", _("退回"))])
    reason = forms.CharField(label=_("退回原因"), required=False, max_length=500)
