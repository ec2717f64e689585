from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = _("文件")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from onboarding import queue, rules

        from . import checklist
        from .queue import documents_page

        # A stage cannot be left while one of its required documents is not accepted.
        rules.guard_checks.add(checklist.intake_documents_accepted, key="intake_complete")
        rules.guard_checks.add(checklist.test_report_accepted, key="tests_passed")
        # Uploads wait in their reviewer's "轮到我办理" (issue 10).
        queue.kinds.add(queue.Kind(_("审核文件"), documents_page), key="documents")
