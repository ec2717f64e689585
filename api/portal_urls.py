"""The company administrator's page for its API clients and webhook endpoints (/portal/integrations/)."""

from __future__ import annotations

from . import pages

urlpatterns = pages.urls_for(pages.COMPANY)
