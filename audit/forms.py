from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.core import context, ratelimit
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.base.forms import AuthenticateForm, BaseAuthenticateForm, ReauthenticateForm
from allauth.mfa.models import Authenticator
from django import forms
from django.utils.translation import gettext_lazy as _

from config.widgets import FastChoiceField, FastSelect, FastTextInput
from onboarding.form_fields import DateField, DateInput

from .models import BreakGlassGrant
from .services import client_ip


class _FastDateInput(DateInput):
    """`DateInput` without its template: the same `<input type="date">` (issue 26)."""

    render = FastTextInput.render


class _BranchField(forms.TypedChoiceField):
    """The branch filter: its choices, (id, name) strings, taken as given, as `FastChoiceField`
    takes them (57 branches normalised twice on every request otherwise)."""

    widget = FastSelect
    choices = FastChoiceField.choices


class AuditFilterForm(forms.Form):
    """The audit log's filters. Its widgets write their markup in Python (`config.widgets`):
    Django's widget templates were a fifth of the page's CPU (issue 26)."""

    case = forms.CharField(label=_("案件编号/企业"), required=False, max_length=100, widget=FastTextInput)
    person = forms.CharField(label=_("人员(用户名或姓名)"), required=False, max_length=150, widget=FastTextInput)
    branch = _BranchField(label=_("机构"), required=False, coerce=int, empty_value=None)
    date_from = DateField(label=_("起始日期"), required=False, widget=_FastDateInput)
    date_to = DateField(label=_("截止日期"), required=False, widget=_FastDateInput)

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


def _check_code_rate_limit(user: Any) -> Callable[[], None]:
    """allauth counts wrong TOTP codes per user only, so anyone holding the password could
    lock its owner out from anywhere; here they count per user *and* address, like wrong
    passwords (the per-address ceilings, LOGIN_FAILURES_PER_ADDRESS…, still apply). A refusal
    reads like a wrong code, as a refused password reads like a wrong password."""
    request = context.request
    key = f"mfa-auth-user-{user.pk}@{client_ip(request) or '-'}"
    if not ratelimit.consume(request, action="login_failed", key=key):
        raise get_mfa_adapter().validation_error("incorrect_code")
    return lambda: ratelimit.clear(request, action="login_failed", key=key)


class _PerAddressCodeMixin(BaseAuthenticateForm):
    def clean_code(self) -> str:
        # allauth's BaseAuthenticateForm.clean_code with the rate limit keyed per address.
        clear_rl = _check_code_rate_limit(self.user)
        code = self.cleaned_data["code"]
        main_auth: Authenticator | None = None
        for auth in Authenticator.objects.filter(user=self.user).exclude(type=Authenticator.Type.WEBAUTHN):
            if not main_auth or auth.type == Authenticator.Type.TOTP:
                main_auth = auth
            if auth.wrap().validate_code(code):
                auth.user = self.user
                self.authenticator = auth
                clear_rl()
                return code
        if main_auth:
            self._emit_authentication_failed(main_auth)
        raise get_mfa_adapter().validation_error("incorrect_code")


class CodeAuthenticateForm(_PerAddressCodeMixin, AuthenticateForm):
    pass


class CodeReauthenticateForm(_PerAddressCodeMixin, ReauthenticateForm):
    pass
