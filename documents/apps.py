from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = _("文件")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from onboarding import rules
        from onboarding.models import EVENT_LABELS

        from . import checklist

        # A stage cannot be left while one of its required documents is not accepted.
        rules.extend_guard("intake_complete", checklist.intake_documents_accepted)
        rules.extend_guard("tests_passed", checklist.test_report_accepted)
        EVENT_LABELS.update(
            {
                "document_upload": _("上传文件"),
                "document_accept": _("文件审核通过"),
                "document_reject": _("文件退回"),
                "document_download": _("下载文件"),
                "document_view": _("查看文件"),
                "form_generate": _("生成表单"),
            }
        )
