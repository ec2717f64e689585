"""A real OpenID Connect provider for the sign-in tests: django-oauth-toolkit with OIDC on
(an RSA key of the test's own), in its own process on a free port, with its own tiny settings
(tests/oidc_provider/settings.py) and a throwaway SQLite database under a temporary directory.

Its people (user name → password and the claims it puts in their tokens) are a JSON file the
test writes and may rewrite between logins; the provider reads it at every token.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Provider:
    def __init__(self, *, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_url = f"{self.url}/o"  # discovery: /o/.well-known/openid-configuration
        self.client = {"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect_uri}
        self.people: dict[str, dict[str, Any]] = {}
        self.process: subprocess.Popen[bytes] | None = None

    def person(self, username: str, password: str, **claims: Any) -> None:
        self.people[username] = {"password": password, "claims": {"preferred_username": username, **claims}}
        (self.dir / "people.json").write_text(json.dumps(self.people, ensure_ascii=False))

    def start(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (self.dir / "key.pem").write_bytes(pem)
        (self.dir / "client.json").write_text(json.dumps(self.client))
        if not (self.dir / "people.json").exists():
            (self.dir / "people.json").write_text("{}")
        env = {
            **os.environ,
            "OIDC_PROVIDER_DIR": str(self.dir),
            "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
        }
        self.log = open(self.dir / "provider.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.serve", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the OIDC provider exited: {(self.dir / 'provider.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{self.server_url}/.well-known/openid-configuration", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the OIDC provider did not start within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self) -> None:
        self.stop()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
