from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from onboarding.forms import CaseForm

from .services import MESSAGE_MAX_LENGTH


class PortalCaseForm(CaseForm):
    """The customer's part of the application: the fee and risk assessment are the bank's."""

    fee_amount = None  # type: ignore[assignment]
    fee_note = None  # type: ignore[assignment]
    risk_level = None  # type: ignore[assignment]
    risk_note = None  # type: ignore[assignment]


class ProductionConfirmForm(forms.Form):
    renders_alike = True  # its empty fields are drawn once ({% form_fields confirm_form %})
    transactions_done = forms.BooleanField(
        label=_("已在生产环境完成小额实单交易(查询、支付等申请的功能)"),
        error_messages={"required": _("请确认已完成小额实单交易")},
    )
    reconciled = forms.BooleanField(
        label=_("生产交易记录已与银行对账一致"),
        error_messages={"required": _("请确认对账一致")},
    )


class WithdrawForm(forms.Form):
    renders_alike = True  # its visible field is drawn once ({% form_fields withdraw_form visible=True %})
    reason = forms.CharField(label=_("撤回原因"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(widget=forms.HiddenInput)


class SubmitForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class MessageForm(forms.Form):
    renders_alike = True  # its empty fields are drawn once ({% form_fields %})
    body = forms.CharField(label=_("留言"), max_length=MESSAGE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("邮箱"))
    display_name = forms.CharField(label=_("姓名"), max_length=60, required=False)


class StaffInvitationForm(InvitationForm):
    as_admin = forms.BooleanField(label=_("设为企业管理员(可邀请同事)"), required=False)


class AcceptInvitationForm(forms.Form):
    display_name = forms.CharField(label=_("姓名"), max_length=60, required=False)
    password1 = forms.CharField(
        label=_("设置密码"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("至少10位,不能是常见密码或纯数字"),
    )
    password2 = forms.CharField(
        label=_("再次输入密码"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("两次输入的密码不一致"))
        return data


class TestMatrixForm:
    """The joint-test matrix: one row per test case of every requested module.

    Each row posts `result-<module>:<code>` ("" = not run now, "pass", "fail"),
    `evidence-…` and `notes-…`; the rows given a result are saved together.
    """

    RESULTS = ("pass", "fail")

    def __init__(self, data: Any | None, *, rows: list[dict[str, Any]]) -> None:
        self.data = data
        self.rows = []
        for row in rows:
            key = f"{row['module']}:{row['code']}"
            values = {
                "result": (data.get(f"result-{key}", "") if data is not None else "").strip(),
                "evidence": (data.get(f"evidence-{key}", "") if data is not None else "").strip()[:300],
                "notes": (data.get(f"notes-{key}", "") if data is not None else "").strip()[:300],
            }
            self.rows.append({**row, "key": key, "posted": values})
        self.errors: list[str] = []

    def outcomes(self) -> list[Any]:
        """The outcomes entered, as `services.TestOutcome`; problems go to `errors`."""
        from onboarding.services import TestOutcome

        outcomes = []
        for row in self.rows:
            posted = row["posted"]
            if not posted["result"]:
                continue
            if posted["result"] not in self.RESULTS:
                self.errors.append(str(_("结果无效:%(case)s") % {"case": row["label"]}))
                continue
            outcomes.append(
                TestOutcome(
                    module=row["module"],
                    test_case=row["code"],
                    passed=posted["result"] == "pass",
                    evidence=posted["evidence"],
                    notes=posted["notes"],
                )
            )
        return outcomes
