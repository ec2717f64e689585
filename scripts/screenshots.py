"""Screenshots of the main pages of a running demo (./scripts/run) for docs/screenshots/.

.venv/bin/python scripts/screenshots.py http://127.0.0.1:8000
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")
django.setup()
from audit.mfa import demo_totp_secret, totp_code  # noqa: E402

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "Demo-2026-pass"


def login(page, username):
    """Password, then the demo account's current TOTP code (staff only)."""
    page.goto(f"{BASE}/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state("networkidle")
    if page.locator("input[name=code]").count():
        page.fill("input[name=code]", totp_code(demo_totp_secret(username)))
        page.click("button.primary")
        page.wait_for_load_state("networkidle")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        login(page, "am_bjhd")
        page.screenshot(path=str(OUT / "demo-dashboard.png"), full_page=True)
        page.goto(f"{BASE}/cases/?overdue=on")
        page.screenshot(path=str(OUT / "demo-case-list-overdue.png"), full_page=True)
        page.click("table.cases tbody tr:first-child a")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "demo-case-detail.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
