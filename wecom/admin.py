"""Administrators configure the robots here; the key is typed once, stored encrypted and shown masked."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.readonly_admin import ReadOnlyAdmin
from onboarding.services import CaseError

from . import services
from .models import DigestRun, WeComMessage, WeComPost, WeComRobot


class RobotForm(forms.ModelForm):
    key = forms.CharField(
        label=gettext_lazy("Webhook 密钥"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy("群机器人地址中 key= 后面的部分(也可粘贴整个地址)。修改时留空则保留原密钥。"),
    )

    base_url = forms.URLField(
        label=gettext_lazy("企业微信服务地址"),
        required=False,
        assume_scheme="https",
        help_text=gettext_lazy("留空则使用系统设置 WECOM_BASE_URL;银行自建(私有化部署)企业微信时填写其地址。"),
    )

    class Meta:
        model = WeComRobot
        fields = ["branch", "name", "base_url", "is_active"]

    def clean_key(self) -> str:
        try:
            key = services.key_clean(self.cleaned_data.get("key", ""))
        except CaseError as exc:
            raise forms.ValidationError(str(exc)) from None
        if not key and not self.instance.key_encrypted:
            raise forms.ValidationError(_("请填写群机器人的 Webhook 密钥。"))
        return key

    def clean_base_url(self) -> str:
        try:
            return services.base_url_clean(self.cleaned_data.get("base_url", ""))
        except CaseError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(WeComRobot)
class WeComRobotAdmin(admin.ModelAdmin):
    form = RobotForm
    list_display = ["branch", "name", "key_hint", "base_url", "is_active", "updated_at"]
    readonly_fields = ["key_hint"]
    actions = ["send_test"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["branch", "name", "key", *(["key_hint"] if obj else []), "base_url", "is_active"]

    def save_model(self, request: HttpRequest, obj: WeComRobot, form: Any, change: bool) -> None:
        saved = services.robot_save(
            robot=obj if change else None,
            branch=form.cleaned_data["branch"],
            key=form.cleaned_data.get("key", ""),
            name=form.cleaned_data.get("name", ""),
            base_url=form.cleaned_data.get("base_url", ""),
            is_active=form.cleaned_data.get("is_active", True),
        )
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Its messages are the record of what was posted: switch a robot off instead.
        return False

    @admin.action(description=gettext_lazy("发送测试消息"))
    def send_test(self, request: HttpRequest, queryset: QuerySet[WeComRobot]) -> None:
        for robot in queryset:
            services.robot_test(robot=robot, by=request.user)
        messages.success(request, _("测试消息已排队发送,请在群内查看。"))


@admin.register(WeComMessage)
class WeComMessageAdmin(ReadOnlyAdmin):
    list_display = ["key", "robot", "kind", "created_at", "attempts", "sent_at", "given_up_at", "last_error"]
    list_filter = ["kind", "robot"]


@admin.register(WeComPost)
class WeComPostAdmin(ReadOnlyAdmin):
    list_display = ["robot", "at", "merged", "http_status", "errcode", "error"]


@admin.register(DigestRun)
class DigestRunAdmin(ReadOnlyAdmin):
    list_display = ["user", "date", "empty", "channels", "created_at"]
    list_filter = ["date", "empty"]
