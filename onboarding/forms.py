from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from companies import validators
from companies.models import Enterprise
from config.widgets import FastCheckboxInput, FastChoiceField, FastTextInput

from .form_fields import DateField
from .models import OnboardingCase, ProductionConfig, TestPackage
from .selectors import case_test_matrix
from .states import Module, RiskLevel


class EnterpriseForm(forms.Form):
    name = forms.CharField(label=_("企业名称"), max_length=200)
    uscc = forms.CharField(
        label=_("统一社会信用代码"),
        max_length=18,
        min_length=1,
        validators=[validators.validate_uscc],
        help_text=_("18位,与营业执照一致"),
    )
    registered_address = forms.CharField(label=_("注册地址"), max_length=300, required=False)
    legal_rep_name = forms.CharField(label=_("法定代表人"), max_length=60)
    legal_rep_id_number = forms.CharField(
        label=_("法定代表人身份证号"), max_length=18, validators=[validators.validate_resident_id]
    )
    handler_name = forms.CharField(label=_("经办人"), max_length=60)
    handler_id_number = forms.CharField(
        label=_("经办人身份证号"), max_length=18, validators=[validators.validate_resident_id]
    )
    handler_phone = forms.CharField(label=_("经办人电话"), max_length=30, required=False)
    authorisation_valid_from = DateField(label=_("授权委托书生效日"), required=False)
    authorisation_valid_until = DateField(label=_("授权委托书到期日"), required=False)
    authorisation_covers_ebanking = forms.BooleanField(label=_("授权范围包含电子银行业务"), required=False)
    contact_name = forms.CharField(label=_("联系人"), max_length=60, required=False)
    contact_phone = forms.CharField(label=_("联系电话"), max_length=30, required=False)
    contact_email = forms.EmailField(label=_("联系邮箱"), required=False)

    def __init__(self, *args: Any, enterprise: Enterprise | None = None, **kwargs: Any) -> None:
        self.enterprise = enterprise
        super().__init__(*args, **kwargs)
        if enterprise is not None:
            # The credit code identifies the company; it is not edited on a case.
            self.fields["uscc"].disabled = True

    def clean_uscc(self) -> str:
        return self.cleaned_data["uscc"].strip().upper()

    def clean_legal_rep_id_number(self) -> str:
        return self.cleaned_data["legal_rep_id_number"].strip().upper()

    def clean_handler_id_number(self) -> str:
        return self.cleaned_data["handler_id_number"].strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        legal, handler = data.get("legal_rep_id_number"), data.get("handler_id_number")
        legal_name, handler_name = data.get("legal_rep_name", ""), data.get("handler_name", "")
        if legal and handler and legal_name and handler_name:
            conflicts = validators.company_identity_conflicts(
                legal_rep_name=legal_name,
                legal_rep_id_number=legal,
                handler_name=handler_name,
                handler_id_number=handler,
            )
            if conflicts:
                # Who signs is unknown until the name or the ID number is corrected.
                self.add_error("handler_name", conflicts)
                return data
        # Past the conflict check, one ID number is one name: another ID is another person.
        if legal and handler and legal != handler:
            start, end = data.get("authorisation_valid_from"), data.get("authorisation_valid_until")
            today = timezone.localdate()
            if not start or not end:
                self.add_error(
                    "authorisation_valid_until",
                    _("经办人不是法定代表人时,须提供法人授权委托书的有效期"),
                )
            elif not start <= today <= end:
                self.add_error(
                    "authorisation_valid_until",
                    _("授权委托书须在今天有效"),
                )
            if not data.get("authorisation_covers_ebanking"):
                self.add_error(
                    "authorisation_covers_ebanking",
                    _("授权范围须包含电子银行业务"),
                )
        return data


class AccountForm(forms.Form):
    account_number = forms.RegexField(
        label=_("账号"),
        regex=r"^\d{8,32}$",
        max_length=32,
        error_messages={"invalid": _("账号应为8至32位数字")},
    )
    account_name = forms.CharField(label=_("户名"), max_length=200)
    opening_branch = forms.CharField(label=_("开户行"), max_length=100, required=False)


# Rows a posted account formset may hold at all (Django's guard against a huge TOTAL_FORMS);
# the limit of the domain, MAX_ACCOUNTS filled rows, is checked in clean() with its own message.
ACCOUNT_ROWS_ABSOLUTE_MAX = 100


class BaseAccountFormSet(forms.BaseFormSet):
    # Django's own limit says "请最多提交 10 个表单" (forms, not accounts); past the hard row limit
    # the page says what validate_account_count says.
    default_error_messages = {"too_many_forms": validators.ACCOUNTS_MAX_MESSAGE}

    def clean(self) -> None:
        filled = sum(1 for i, f in enumerate(self.forms) if i < self.initial_form_count() or f.has_changed())
        if filled > validators.MAX_ACCOUNTS:
            self._check_count(filled)
        if any(self.errors):
            return
        rows = [f.cleaned_data for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        self._check_count(len(rows))
        numbers = [r["account_number"] for r in rows]
        if len(numbers) != len(set(numbers)):
            raise ValidationError(_("同一账号不能重复登记"))

    @staticmethod
    def _check_count(count: int) -> None:
        try:
            validators.validate_account_count(count)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def accounts(self) -> list[dict[str, str]]:
        return [f.cleaned_data for f in self.forms if f.cleaned_data]


def account_formset(data: Any = None, initial: list[dict[str, str]] | None = None) -> Any:
    initial = initial or []
    formset_cls = forms.formset_factory(
        AccountForm,
        formset=BaseAccountFormSet,
        extra=max(0, min(3, validators.MAX_ACCOUNTS - len(initial))) if not initial else 1,
        max_num=validators.MAX_ACCOUNTS,  # rows shown
        absolute_max=ACCOUNT_ROWS_ABSOLUTE_MAX,
    )
    return formset_cls(data, initial=initial, prefix="acc")


class CaseForm(forms.Form):
    modules = forms.MultipleChoiceField(
        label=_("功能模块"),
        choices=Module.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一个功能模块")},
    )
    erp_system = forms.CharField(label=_("企业ERP/财资系统"), max_length=100, required=False)
    connection_notes = forms.CharField(
        label=_("对接方式说明"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    fee_amount = forms.DecimalField(label=_("费用(元)"), required=False, min_value=0, max_digits=12, decimal_places=2)
    fee_note = forms.CharField(label=_("费用说明"), max_length=200, required=False)
    risk_level = forms.ChoiceField(label=_("风险等级"), choices=[("", "—"), *RiskLevel.choices], required=False)
    risk_note = forms.CharField(label=_("风险说明"), max_length=300, required=False)
    target_date = DateField(label=_("目标上线日期"), required=False)

    def case_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "modules"}


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("原因"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(widget=forms.HiddenInput)
    # Rare, destructive steps (withdraw, reject, suspend) are posted only with this box ticked.
    confirm = forms.BooleanField(required=False)


class TestPackageForm(forms.ModelForm):
    class Meta:
        model = TestPackage
        fields = ["test_endpoint", "test_accounts", "test_certificate_ref", "doc_version", "issued_to"]
        widgets = {"test_accounts": forms.Textarea(attrs={"rows": 2})}


def _test_choices(case: OnboardingCase) -> list[tuple[str, str]]:
    return [(f"{r['module']}:{r['code']}", f"{r['module_label']} · {r['label']}") for r in case_test_matrix(case=case)]


class TestResultForm(forms.Form):
    test = forms.ChoiceField(label=_("测试用例"))
    passed = forms.TypedChoiceField(
        label=_("结果"), choices=[("1", _("通过")), ("0", _("未通过"))], coerce=lambda v: v == "1"
    )
    evidence = forms.CharField(label=_("测试凭据(流水号/日志)"), max_length=300, required=False)
    notes = forms.CharField(label=_("说明"), max_length=300, required=False)

    def __init__(self, *args: Any, case: OnboardingCase, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["test"].choices = _test_choices(case)  # type: ignore[attr-defined]

    def values(self) -> dict[str, Any]:
        module, code = self.cleaned_data["test"].split(":", 1)
        data = {k: v for k, v in self.cleaned_data.items() if k != "test"}
        return {**data, "module": module, "test_case": code}


class RetestForm(forms.Form):
    tests = forms.MultipleChoiceField(label=_("需重测的用例"), widget=forms.CheckboxSelectMultiple)
    reason = forms.CharField(label=_("重测原因"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, case: OnboardingCase, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tests"].choices = _test_choices(case)  # type: ignore[attr-defined]

    def items(self) -> list[tuple[str, str]]:
        return [tuple(t.split(":", 1)) for t in self.cleaned_data["tests"]]  # type: ignore[misc]


class ProductionConfigForm(forms.ModelForm):
    class Meta:
        model = ProductionConfig
        fields = [
            "production_endpoint",
            "certificate_serial",
            "production_accounts",
            "connection_type",
            "front_end_processor",
            "line_details",
        ]
        widgets = {"production_accounts": forms.Textarea(attrs={"rows": 2})}


class CaseFilterForm(forms.Form):
    q = forms.CharField(label=_("企业名称/信用代码/编号"), required=False, widget=FastTextInput)
    # Every branch and account manager in scope is an option: given as (value, label) strings
    # and rendered without templates (`onboarding.web.case_list_selection`).
    state = FastChoiceField(label=_("状态"), required=False)
    branch = FastChoiceField(label=_("机构"), required=False)
    account_manager = FastChoiceField(label=_("客户经理"), required=False)
    overdue = forms.BooleanField(label=_("仅超时"), required=False, widget=FastCheckboxInput)


def case_forms(
    data: Any, *, enterprise: Enterprise | None, case: Any = None, case_form_cls: type[CaseForm] = CaseForm
) -> tuple[EnterpriseForm, Any, CaseForm]:
    """The company, accounts and application forms of a case, filled from what is on record.

    A new case of a new company starts empty; the company's data and accounts come from its
    record when it exists, the application from the case when there is one.
    """
    if enterprise is None:
        return EnterpriseForm(data), account_formset(data), case_form_cls(data)
    ent_initial = {f: getattr(enterprise, f) for f in EnterpriseForm.base_fields}
    accounts = [
        {"account_number": a.account_number, "account_name": a.account_name, "opening_branch": a.opening_branch}
        for a in enterprise.accounts.order_by("pk")
    ]
    case_initial = {f: getattr(case, f) for f in case_form_cls.base_fields} if case is not None else {}
    return (
        EnterpriseForm(data, initial=ent_initial, enterprise=enterprise),
        account_formset(data, initial=accounts),
        case_form_cls(data, initial=case_initial),
    )


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class ChangeReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("变更原因"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), required=True
    )


class ChangeDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("批准")), ("refuse", _("拒绝"))])
    reason = forms.CharField(
        label=_("审批意见"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


def change_request_forms(data: Any, *, enterprise: Enterprise) -> tuple[EnterpriseForm, Any, ChangeReasonForm]:
    """The company and account forms prefilled from the company's current data, and the reason."""
    ent_form, acc_formset, _case_form = case_forms(data, enterprise=enterprise)
    return ent_form, acc_formset, ChangeReasonForm(data)
