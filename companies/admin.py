from __future__ import annotations

from django.contrib import admin

from config.readonly_admin import ReadOnlyAdmin, ReadOnlyInline

from .models import CompanyVersion, Enterprise, SettlementAccount


class ReadOnly(ReadOnlyAdmin):
    """Company data changes on the case pages, where each save becomes a version and the
    cases that use it are told; an edit here would bypass both."""


class SettlementAccountInline(ReadOnlyInline):
    model = SettlementAccount
    extra = 0


@admin.register(Enterprise)
class EnterpriseAdmin(ReadOnly):
    list_display = ["name", "uscc", "legal_rep_name", "branch"]
    list_filter = ["branch"]
    search_fields = ["name", "uscc"]
    inlines = [SettlementAccountInline]


@admin.register(CompanyVersion)
class CompanyVersionAdmin(ReadOnly):
    list_display = ["enterprise", "number", "name", "legal_rep_name", "created_by", "created_at"]
    search_fields = ["enterprise__name", "enterprise__uscc"]
    list_select_related = ["enterprise", "created_by"]
