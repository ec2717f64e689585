"""Processes a fault test starts and stops itself: a Redis of its own, gunicorn, Celery workers.

Shared by tests/test_two_hosts.py, tests/test_fault_redis_frozen.py, tests/test_fault_worker_killed.py
and tests/test_chaos.py. Every process is started in its own process group and only those
groups are signalled: the shared PostgreSQL and Redis servers are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str = "") -> bool:
    """Poll `condition` until it holds; False after `timeout` (or AssertionError if `what` is named)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    if what:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    return False


# --- a Redis of the test's own -----------------------------------------------------------------


@dataclass
class OwnRedis:
    """A redis-server on a free port, no persistence: frozen (SIGSTOP), thawed, stopped, started again."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=0.5).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL: the port refuses connections at once, everything in it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def own_redis_server() -> OwnRedis:
    server = OwnRedis(free_port())
    server.start()
    return server


# --- gunicorn and Celery ------------------------------------------------------------------------


def database_url(*, host: str | None = None, port: int | None = None) -> str:
    """The URL of the test database as this process connects to it (another host or port: a proxy)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = host or db.get("HOST") or "127.0.0.1"
    port = port or int(db.get("PORT") or 5432)
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the process's own group; SIGKILL after 30 s if it does not end."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return start(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
        {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
        log,
    )


def celery_worker(env: dict[str, str], queue: str, name: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    return start(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-n",
            f"{name}-{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
            *extra,
        ],
        env,
        log,
    )


def ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=3).status_code == 200
    except requests.RequestException:
        return False


# --- a browser over HTTP ------------------------------------------------------------------------


def browser_session(client: Client, user: Any) -> requests.Session:
    """A browser session of `user` (logged in with the second factor, as the suite's force_login)."""
    client.force_login(user)
    browser = requests.Session()
    browser.cookies.set("sessionid", client.cookies["sessionid"].value, domain="127.0.0.1", path="/")
    return browser


def transition(browser: requests.Session, base: str, case: Any, name: str) -> requests.Response:
    """Open the case page as the browser would and press the transition's button."""
    page = browser.get(f"{base}/cases/{case.public_id}/", timeout=30)
    assert page.status_code == 200, page.status_code
    form = re.search(
        rf'<form method="post" action="/cases/{case.public_id}/transition/{name}/".*?</form>', page.text, re.S
    )
    assert form, f"no {name} button on the page"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0))
    version = re.search(r'name="version" value="(\d+)"', form.group(0))
    assert token and version
    return browser.post(
        f"{base}/cases/{case.public_id}/transition/{name}/",
        data={"csrfmiddlewaretoken": token.group(1), "version": version.group(1), "reason": "", "transition": name},
        headers={"Referer": f"{base}/cases/{case.public_id}/"},
        allow_redirects=False,
        timeout=30,
    )
