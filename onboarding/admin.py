from __future__ import annotations

from django.contrib import admin

from config.readonly_admin import ReadOnlyAdmin

from .models import CaseEvent, ChangeRequest, OnboardingCase


@admin.register(OnboardingCase)
class OnboardingCaseAdmin(ReadOnlyAdmin):
    """Read-only here: cases change only through the workflow, never by editing rows."""

    list_display = ["reference", "enterprise", "branch", "state", "account_manager", "created_at"]
    list_filter = ["state", "branch"]
    search_fields = ["reference", "enterprise__name", "enterprise__uscc"]
    list_select_related = ["enterprise", "branch", "account_manager"]


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "case", "kind", "name", "actor", "from_state", "to_state"]
    list_filter = ["kind"]
    list_select_related = ["case", "actor"]


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    """Read-only: change requests are filed and decided on the case pages."""

    list_display = ["filed_at", "case", "status", "filed_by", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["case", "filed_by", "decided_by"]
