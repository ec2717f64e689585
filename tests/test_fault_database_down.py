"""The database refusing connections: pages answer a 503 page with Retry-After, never a 500.

The app really points at a PostgreSQL URL on a port nothing listens on, in a process of its own
(the test run's own database is left alone), and pages are asked for as a browser would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, django
django.setup()
from django.test import Client
out = {}
for name, cookies in (("zh", {}), ("en", {"django_language": "en"})):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32  # a browser with a session: the session is read
    for key, value in cookies.items():
        client.cookies[key] = value
    for path in ("/", "/portal/", "/cases/"):
        r = client.get(path)
        out[f"{name} {path}"] = [r.status_code, r.get("Retry-After"), r.content.decode()]
    r = client.post("/portal/", {"body": "x"})
    out[f"{name} POST"] = [r.status_code, r.get("Retry-After"), r.content.decode()]
print("RESULT" + json.dumps(out, ensure_ascii=False))
"""


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pages_answer_a_503_page_in_the_readers_language_when_the_database_refuses():
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "MIGRATE_DATABASE_URL"}},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ALLOW_INSECURE_DEV_KEY": "true",
        "DEBUG": "false",
        "DATABASE_URL": f"postgres://app@127.0.0.1:{_dead_port()}/onboarding",
        "DATABASE_RETRY_AFTER_SECONDS": "17",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, result.stderr[-3000:]
    answers = json.loads(line[len("RESULT") :])
    for name, (status, retry_after, page) in answers.items():
        assert status == 503, (name, page[:500])
        assert retry_after == "17", name
        if name.startswith("zh"):
            assert "服务暂不可用" in page and "17 秒后重试" in page, name
            assert "Service" not in page and "unavailable" not in page.lower(), name
        else:
            assert "Service temporarily unavailable" in page and "17 seconds" in page, name
            assert "服务暂不可用" not in page and "重试" not in page, name
    # One line per refused request, no traceback of the connection error on the way.
    assert "Internal Server Error" not in result.stderr
