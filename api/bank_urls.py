"""The bank administrator's page for the bank's own API clients and webhook endpoints (/integrations/)."""

from __future__ import annotations

from . import pages

urlpatterns = pages.urls_for(pages.BANK)
