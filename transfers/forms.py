from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from branches.models import Branch
from branches.scope import subtree_q


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("导入文件(CSV 或 Excel .xlsx)"))
    branch = forms.ModelChoiceField(label=_("导入机构"), queryset=Branch.objects.none(), empty_label=None)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["branch"]
        field.queryset = Branch.objects.filter(subtree_q("", user.branch)).order_by("path")  # type: ignore[attr-defined]
        field.initial = user.branch_id
        field.help_text = _("只导入本机构及其辖内;“受理机构号”为空时,案件归入客户经理所在机构")


class ImportStartForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[("all", _("全部导入")), ("valid_only", _("仅导入有效行"))], widget=forms.HiddenInput
    )
