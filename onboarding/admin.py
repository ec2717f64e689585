from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import CaseEvent, ChangeRequest, OnboardingCase


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


@admin.register(ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    """Read-only: change requests are filed and decided on the case pages."""

    list_display = ["filed_at", "case", "status", "filed_by", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["case", "filed_by", "decided_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
