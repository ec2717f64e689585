from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import CaseEvent, Enterprise, OnboardingCase, SettlementAccount


class SettlementAccountInline(admin.TabularInline):
    model = SettlementAccount
    extra = 0
    max_num = 10


@admin.register(Enterprise)
class EnterpriseAdmin(admin.ModelAdmin):
    list_display = ["name", "uscc", "legal_rep_name", "branch"]
    list_filter = ["branch"]
    search_fields = ["name", "uscc"]
    inlines = [SettlementAccountInline]


@admin.register(OnboardingCase)
class OnboardingCaseAdmin(admin.ModelAdmin):
    """Read-only here: cases change only through the workflow, never by editing rows."""

    list_display = ["reference", "enterprise", "branch", "state", "account_manager", "created_at"]
    list_filter = ["state", "branch"]
    search_fields = ["reference", "enterprise__name", "enterprise__uscc"]
    list_select_related = ["enterprise", "branch", "account_manager"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CaseEvent)
class CaseEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "case", "kind", "name", "actor", "from_state", "to_state"]
    list_filter = ["kind"]
    list_select_related = ["case", "actor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
