"""Headless Chromium from Debian (never a downloaded browser), driven by Playwright."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from django.core.signals import request_finished
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Playwright runs an event loop in the test thread; the ORM calls the tests make there are
# synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _close_server_thread_connections(**kwargs: object) -> None:
    if threading.current_thread() is not threading.main_thread():
        connections.close_all()


@pytest.fixture(scope="session", autouse=True)
def live_server_threads_keep_no_connection():
    """The live server answers each browser connection in a thread of its own, and Chromium keeps
    its connections open between pages and tests (keep-alive): with CONN_MAX_AGE each such thread
    kept its own PostgreSQL connection until the browser let go. One test process held more than 70
    idle connections after the browser walks, and a concurrent test in the other process was refused
    ("remaining connection slots are reserved", CI of 2026-12-06). Here a server thread closes
    its connections when its request is answered; the tests' own thread is left alone (it holds the
    test's database and its transaction)."""
    request_finished.connect(_close_server_thread_connections, dispatch_uid="browser-live-server")
    yield
    request_finished.disconnect(dispatch_uid="browser-live-server")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/setup (Debian packages chromium, chromium-driver)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture
def shot(page, tmp_path):
    """Save a full-page screenshot: into docs/screenshots/ with SAVE_SCREENSHOTS=1 (to refresh
    the docs), otherwise into the test's temporary folder so a test run leaves the tree clean."""
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
