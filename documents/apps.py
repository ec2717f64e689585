from __future__ import annotations

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "文件"
    default_auto_field = "django.db.models.BigAutoField"
