from __future__ import annotations

from django.contrib import admin

from config.readonly_admin import ReadOnlyAdmin

from .models import Reminder


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["case", "stage", "level", "due_at", "created_at"]
    list_filter = ["level", "stage"]
    list_select_related = ["case__enterprise"]
