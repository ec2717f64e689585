from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from . import workcal
from .models import CalendarDay, StageSLA


class _WarnMissingSchedule:
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        for year in workcal.missing_schedule_years():
            messages.warning(
                request,
                _("尚未录入%(year)s年节假日安排,该年按周一至周五计算工作日") % {"year": year},
            )
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


@admin.register(StageSLA)
class StageSLAAdmin(_WarnMissingSchedule, admin.ModelAdmin):
    list_display = ["stage", "days"]
    list_editable = ["days"]


@admin.register(CalendarDay)
class CalendarDayAdmin(_WarnMissingSchedule, admin.ModelAdmin):
    list_display = ["date", "is_workday", "name"]
    list_filter = ["is_workday"]
    date_hierarchy = "date"
    search_fields = ["name"]
