from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LinksConfig(AppConfig):
    name = "links"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("直联服务")

    def ready(self) -> None:
        from casetypes import declaration
        from onboarding import events
        from onboarding.page_reads import page_loaders, page_relations

        from . import listeners, selectors
        from .requests import REQUEST_TYPES

        # Every request type is a declared case type (one module per type, links/requests/).
        for case_type in REQUEST_TYPES:
            declaration.register(case_type)
        # Go-live creates the live link; a request case that ends closes its LinkRequest.
        events.listeners.add(listeners.case_event_heard)
        # The case page's link panels: an onboarding case's live link comes with the case's
        # one-to-ones (one table more in that statement, one query fewer for a live case); a
        # request case's request, its link, key and opener are read right after the case row.
        page_relations.add("live_link")
        page_loaders.add(selectors.case_page_links)
        # Renewal, suspension and termination (issue 22): the renewal reminder's mail and the sweeps' tasks.
        from notices import outbox

        from . import request_services, request_tasks  # noqa: F401

        outbox.renderers.add(request_services.renewal_mail, key="link_renewal")
