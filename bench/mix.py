"""The realistic mix: a bank's day of reads and writes against gunicorn as the README deploys it.

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/mix.py [--db bench_mix] [--cases 5000]
        [--levels 1,10] [--duration 120] [--staff 50] [--customers 20] [--erp 3] [--reset]

The data set is bench/pages.py's (`<db>_seed` grown to `--cases` by bench/pages_build.py).
Then 50 staff sessions (account managers first, then supervisors, head office, tech, counter,
auditor), 20 customer sessions (portal users) and 3 ERP clients (OAuth2 client-credentials
tokens, one company each) work against gunicorn started with `config/gunicorn.py` and the
deployment's defaults (workers and threads as config/gunicorn.py sizes them, DEBUG off, Redis for
sessions and the user cache), serving `config.wsgi`. There is no page cache: every page is
computed for its request.

Each session is a browser: its own session cookie and CSRF cookie. What they do is drawn at
random (fixed seed) as an open-loop schedule of arrivals (Poisson, per kind of action) at the
bank's rate (`BANK_RATE`, per second) times each `--levels` factor; every request is timed from
its scheduled moment, so a queue in front of the workers shows in the figures. Writes go through
the pages as a browser posts them (forms found in the pages' HTML, CSRF token sent): case
transitions (an account manager suspends and resumes a case), messages (staff and customers),
document uploads (a customer, on the first upload form of their case page), logins (customers:
password; demo staff: password then their TOTP code). The ERP clients poll the API.

Before the first level, `--warm-up` page reads (120) go untimed: a new worker's first pages
compile their templates, which a bank's day pays once. It prints, per level: requests offered and answered, errors, p50/p95 per page (pages named by
URL with ids replaced by `{id}`), and the machine's load average (sampled every 5 s) during the level.
"""

from __future__ import annotations

import argparse
import base64
import html
import http.client
import json
import math
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pages as pages_bench  # noqa: E402

PASSWORD = "Demo-2026-pass"  # every demo account's (README, "Demo logins"); the clones share it

# A bank's rate, per second, for 50 staff, 20 customers and 3 ERP clients in working hours:
# a staff member opens a page a minute, a customer one every two minutes, each ERP client polls
# every 30 s; the README's history has 0.13 case events a second for the whole bank, of which
# these sessions' transitions, messages and uploads are a share; staff log in again after
# every idle half hour, customers now and then.
BANK_RATE = {
    "staff page": 50 / 60,
    "customer page": 20 / 120,
    "api poll": 3 / 30,
    "transition": 0.03,
    "staff message": 0.015,
    "customer message": 0.015,
    "upload": 0.01,
    "login": 0.02,
}
STAFF_PAGES = [  # (weight, label, url maker)
    (25, "GET /", lambda s, r: "/"),
    (15, "GET /cases/", lambda s, r: "/cases/"),
    (5, "GET /cases/?page=2", lambda s, r: "/cases/?page=2"),
    (5, "GET /cases/?q=", lambda s, r: "/cases/?q=" + urllib.parse.quote(r.choice(s.searches))),
    (5, "GET /cases/?overdue=on", lambda s, r: "/cases/?overdue=on"),
    (35, "GET /cases/{id}/", lambda s, r: f"/cases/{r.choice(s.cases)}/"),
    (10, "GET /reminders/", lambda s, r: "/reminders/"),
]
AUDITOR_PAGES = [
    (40, "GET /audit/", lambda s, r: "/audit/"),
    (20, "GET /audit/?page=2", lambda s, r: "/audit/?page=2"),
    (20, "GET /", lambda s, r: "/"),
    (20, "GET /cases/{id}/", lambda s, r: f"/cases/{r.choice(s.cases)}/"),
]
CUSTOMER_PAGES = [
    (50, "GET /portal/", lambda s, r: "/portal/"),
    (50, "GET /portal/cases/{id}/", lambda s, r: f"/portal/cases/{r.choice(s.cases)}/"),
]


def _pdf() -> bytes:
    """A valid one-page PDF (what a scanned form's upload carries, in miniature): the upload
    check reads every PDF and refuses a corrupt one."""
    import io

    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDF = _pdf()
UPLOAD_ACTION = re.compile(r"/documents/cases/[0-9a-f-]+/upload/[a-z_]+/")
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)
HIDDEN = re.compile(r"<input\b[^>]*\btype=\"hidden\"[^>]*>")
ATTR = re.compile(r'\b(name|value)="([^"]*)"')
BENCH_REASON = "基准测试:暂停与恢复"
BENCH_MESSAGES = ("您好,测试环境证书已下发,请查收。", "请问测试环境的证书什么时候可以下发?")


def form_on_page(page: str, action: re.Pattern[str]) -> tuple[str, dict[str, str]] | None:
    """The first form of `page` whose action matches, and its hidden fields (CSRF, the case's
    version, a once-only form token): what a browser posts with it."""
    for form in FORM.findall(page):
        head = form[: form.index(">") + 1]
        found = re.search(r'action="([^"]*)"', head)
        if found and action.fullmatch(found.group(1)):
            fields = {}
            for tag in HIDDEN.findall(form):
                attrs = dict(ATTR.findall(tag))
                if "name" in attrs:
                    fields[attrs["name"]] = html.unescape(attrs.get("value", ""))
            return found.group(1), fields
    return None


@dataclass
class Session:
    username: str
    kind: str  # "staff", "auditor", "customer"
    sessionid: str
    csrf: str = field(default_factory=lambda: secrets.token_hex(16))  # 32 characters, as Django's
    cases: list[str] = field(default_factory=list)  # public ids it may open
    toggles: list[str] = field(default_factory=list)  # its cases it may suspend and resume
    uploads: list[str] = field(default_factory=list)  # its cases that ask it for a document now
    searches: list[str] = field(default_factory=list)
    totp: str | None = None  # a demo account's TOTP secret: it can log in again
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cookie(self) -> str:
        return f"sessionid={self.sessionid}; csrftoken={self.csrf}"


@dataclass
class Result:
    label: str
    ms: float
    ok: bool


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Host": "127.0.0.1", **headers})
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()


def _form(fields: dict[str, str]) -> tuple[bytes, str]:
    return urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"


def _multipart(fields: dict[str, str], name: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "----benchmix" + secrets.token_hex(8)
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Mix:
    def __init__(self, port: int, staff: list[Session], customers: list[Session], erp: list[dict[str, str]]) -> None:
        self.client = Client(port)
        self.staff = staff
        self.customers = customers
        self.erp = erp
        self.results: list[Result] = []
        self.lock = threading.Lock()
        self.totp_used: dict[str, int] = {}

    def record(self, label: str, start: float, ok: bool) -> None:
        with self.lock:
            self.results.append(Result(label, (time.perf_counter() - start) * 1000, ok))

    def get(self, s: Session, label: str, path: str, start: float) -> bytes:
        status, _headers, body = self.client.request("GET", path, {"Cookie": s.cookie()})
        self.record(label, start, status == 200)
        return body if status == 200 else b""

    def post(
        self, s: Session, label: str, path: str, fields: dict[str, str], start: float, upload: bytes | None = None
    ) -> tuple[int, dict[str, str]]:
        fields = {**fields, "csrfmiddlewaretoken": s.csrf}
        body, ctype = _multipart(fields, "file", "扫描件.pdf", upload) if upload is not None else _form(fields)
        status, headers, _ = self.client.request(
            "POST", path, {"Cookie": s.cookie(), "Content-Type": ctype, "Referer": f"http://127.0.0.1{path}"}, body
        )
        # A form posted and answered with a redirect (to the page, with its message) is done.
        self.record(label, start, status in (200, 302, 303))
        return status, headers

    # --- the actions --------------------------------------------------------------------------

    def staff_page(self, r: random.Random, start: float) -> None:
        s = r.choice(self.staff)
        table = AUDITOR_PAGES if s.kind == "auditor" else STAFF_PAGES
        _, label, make = r.choices(table, weights=[w for w, _, _ in table])[0]
        with s.lock:
            self.get(s, label, make(s, r), start)

    def customer_page(self, r: random.Random, start: float) -> None:
        s = r.choice(self.customers)
        _, label, make = r.choices(CUSTOMER_PAGES, weights=[w for w, _, _ in CUSTOMER_PAGES])[0]
        with s.lock:
            self.get(s, label, make(s, r), start)

    def api_poll(self, r: random.Random, start: float) -> None:
        client = r.choice(self.erp)
        headers = {"Authorization": f"Bearer {client['token']}"}
        if r.random() < 0.7 or not client["cases"]:
            label, path = "API GET /api/v1/cases/", "/api/v1/cases/"
        else:
            label, path = "API GET /api/v1/cases/{id}/events/", f"/api/v1/cases/{r.choice(client['cases'])}/events/"
        status, _, _ = self.client.request("GET", path, headers)
        self.record(label, start, status == 200)

    def transition(self, r: random.Random, start: float) -> None:
        """An account manager opens their case and suspends it, or resumes it: the page's form."""
        owners = [s for s in self.staff if s.toggles]
        if not owners:
            return
        s = r.choice(owners)
        pid = r.choice(s.toggles)
        with s.lock:
            page = self.get(s, "GET /cases/{id}/", f"/cases/{pid}/", start).decode("utf-8", "replace")
            form = form_on_page(page, re.compile(rf"/cases/{pid}/transition/(resume|suspend)/"))
            if form is None:
                self.record("POST /cases/{id}/transition/{name}/ (no form)", start, False)
                return
            path, fields = form
            fields.update({"reason": BENCH_REASON, "confirm": "on"})
            # The post is timed on its own (the page read before it is the row above).
            self.post(s, "POST /cases/{id}/transition/{name}/", path, fields, time.perf_counter())

    def _message(self, s: Session, label: str, page_url: str, action: str, body: str, start: float) -> None:
        """Open the case page, post its message form (with its hidden fields) as a browser does."""
        page = self.get(s, label.split(" -> ")[0], page_url, start).decode("utf-8", "replace")
        form = form_on_page(page, re.compile(re.escape(action)))
        if form is None:
            self.record(f"POST {action} (no form)", start, False)
            return
        path, fields = form
        fields["body"] = body
        self.post(s, label.split(" -> ")[1], path, fields, time.perf_counter())

    def staff_message(self, r: random.Random, start: float) -> None:
        s = r.choice([x for x in self.staff if x.toggles] or self.staff)
        pid = r.choice(s.toggles or s.cases)
        with s.lock:
            label = "GET /cases/{id}/ -> POST /portal/staff/cases/{id}/messages/"
            self._message(s, label, f"/cases/{pid}/", f"/portal/staff/cases/{pid}/messages/", BENCH_MESSAGES[0], start)

    def customer_message(self, r: random.Random, start: float) -> None:
        s = r.choice(self.customers)
        pid = r.choice(s.cases)
        with s.lock:
            label = "GET /portal/cases/{id}/ -> POST /portal/cases/{id}/messages/"
            self._message(s, label, f"/portal/cases/{pid}/", f"/portal/cases/{pid}/messages/", BENCH_MESSAGES[1], start)

    def upload(self, r: random.Random, start: float) -> None:
        """A customer opens their case and uploads a scan on the page's first upload form."""
        uploaders = [s for s in self.customers if s.uploads]
        if not uploaders:
            return
        s = r.choice(uploaders)
        pid = r.choice(s.uploads)
        with s.lock:
            page = self.get(s, "GET /portal/cases/{id}/", f"/portal/cases/{pid}/", start).decode("utf-8", "replace")
            form = form_on_page(page, UPLOAD_ACTION)
            if form is None:
                self.record("POST /documents/cases/{id}/upload/{kind}/ (no form)", start, False)
                return
            path, fields = form
            fields.pop("csrfmiddlewaretoken", None)
            label = "POST /documents/cases/{id}/upload/{kind}/"
            self.post(s, label, path, fields, time.perf_counter(), upload=PDF)

    def login(self, r: random.Random, start: float) -> None:
        """Someone logs in again: a customer (password) or a demo staff member (password + TOTP)."""
        from audit.mfa import totp_code

        period = 30
        now = int(time.time()) // period
        staff = [s for s in self.staff if s.totp and self.totp_used.get(s.username, -1) < now]
        s = r.choice(staff) if staff and r.random() < 0.6 else r.choice(self.customers)
        with s.lock:
            browser = Session(s.username, s.kind, "", csrf=s.csrf)
            status, headers, _ = self.client.request("GET", "/login/", {"Cookie": f"csrftoken={s.csrf}"})
            fields = {"login": s.username, "password": PASSWORD}
            body, ctype = _form({"csrfmiddlewaretoken": s.csrf, **fields})
            status, headers, _ = self.client.request(
                "POST", "/login/", {"Cookie": f"csrftoken={s.csrf}", "Content-Type": ctype}, body
            )
            browser.sessionid = _cookie(headers, "sessionid") or ""
            if status in (302, 303) and s.totp and "2fa" in headers.get("location", ""):
                self.totp_used[s.username] = now
                code = totp_code(s.totp)
                body, ctype = _form({"csrfmiddlewaretoken": s.csrf, "code": code})
                status, headers, _ = self.client.request(
                    "POST", headers["location"], {"Cookie": browser.cookie(), "Content-Type": ctype}, body
                )
                browser.sessionid = _cookie(headers, "sessionid") or browser.sessionid
            ok = status in (302, 303) and bool(browser.sessionid) and "/login/" not in headers.get("location", "")
            self.record("POST /login/" + (" + TOTP" if s.totp else ""), start, ok)
            if ok:
                s.sessionid = browser.sessionid  # the browser goes on with its new session


def _cookie(headers: dict[str, str], name: str) -> str | None:
    found = re.search(rf"{name}=([^;]+)", headers.get("set-cookie", ""))
    return found.group(1) if found else None


def schedule(rate: dict[str, float], factor: float, duration: float, seed: int) -> list[tuple[float, str]]:
    """Poisson arrivals of every kind of action over `duration` seconds, in time order."""
    r = random.Random(seed)
    events = []
    for kind, per_second in rate.items():
        t = 0.0
        while per_second > 0:
            t += r.expovariate(per_second * factor)
            if t >= duration:
                break
            events.append((t, kind))
    return sorted(events)


def warm_up(mix: Mix, requests: int) -> None:
    """Pages read before anything is timed (staff, customers, the API, in the mix's proportions),
    then forgotten: a new gunicorn worker's first pages compile their templates and PostgreSQL's
    first reads of a table come from disk, which a bank's day pays once, not per level."""
    r = random.Random(0)
    for i in range(requests):
        kind = ("staff_page", "staff_page", "customer_page", "api_poll")[i % 4]
        getattr(mix, kind)(r, time.perf_counter())
    with mix.lock:
        mix.results.clear()


def run_level(mix: Mix, factor: float, duration: float, threads: int, seed: int) -> dict[str, Any]:
    events = schedule(BANK_RATE, factor, duration, seed)
    mix.results = []
    loads: list[float] = [os.getloadavg()[0]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(5):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors: list[str] = []

    def run(kind: str, start: float, i: int) -> None:
        try:
            getattr(mix, kind.replace(" ", "_"))(random.Random(seed * 1_000_003 + i), start)
        except Exception as exc:
            mix.record(f"{kind} (exception)", start, False)
            if len(errors) < 5:
                errors.append(f"{kind}: {exc!r}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i, (at, kind) in enumerate(events):
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(run, kind, t0 + at, i)
    elapsed = time.perf_counter() - t0
    stop.set()
    loads.append(os.getloadavg()[0])
    return {"factor": factor, "events": len(events), "elapsed": elapsed, "loads": loads, "errors": errors}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]  # nearest rank


def report(mix: Mix, level: dict[str, Any], duration: float) -> None:
    by_label: dict[str, list[Result]] = defaultdict(list)
    for result in mix.results:
        by_label[result.label].append(result)
    offered = sum(BANK_RATE.values()) * level["factor"]
    loads = level["loads"]
    answered = len(mix.results)
    print()
    print(
        f"level {level['factor']:g}× the bank's rate ({offered:.2f} actions/s offered for {duration:g} s; "
        f"{level['events']} actions, {answered} requests timed, {answered / level['elapsed']:.1f} req/s); "
        f"load average {min(loads):.1f}–{max(loads):.1f} ({os.cpu_count()} CPUs)"
    )
    print()
    print("| page | requests | p50 | p95 | max | failed |")
    print("|---|---|---|---|---|---|")
    for label in sorted(by_label):
        rows = by_label[label]
        ms = [x.ms for x in rows]
        failed = sum(1 for x in rows if not x.ok)
        print(
            f"| {label} | {len(rows)} | {statistics.median(ms):.0f} ms | {percentile(ms, 95):.0f} ms "
            f"| {max(ms):.0f} ms | {failed} |"
        )
    all_ms = [x.ms for x in mix.results]
    if all_ms:
        print(
            f"| **all** | {len(all_ms)} | {statistics.median(all_ms):.0f} ms | {percentile(all_ms, 95):.0f} ms "
            f"| {max(all_ms):.0f} ms | {sum(1 for x in mix.results if not x.ok)} |"
        )
    for error in level["errors"]:
        print(f"  error: {error}")


# --- the cast ---------------------------------------------------------------------------------


def cast(n_staff: int, n_customers: int, n_erp: int, port: int) -> tuple[list[Session], list[Session], list[Any]]:
    """The staff, customers and ERP clients, chosen the same way on every database."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Q

    from audit.mfa import demo_totp_secret, totp_secret
    from casetypes import declaration
    from casetypes.declaration import Feature
    from documents.services import uploadable_kinds
    from onboarding.models import OnboardingCase
    from onboarding.states import TERMINAL_STATES, State

    User = get_user_model()
    toggle_states = [*declaration.states_with(Feature.JOINT_TESTS), State.SUSPENDED]
    staff_users = list(
        User.objects.filter(is_active=True, branch__isnull=False)
        .annotate(own=Count("managed_cases", filter=Q(managed_cases__state__in=toggle_states)))
        .order_by("-own", "pk")
        .prefetch_related("groups")
    )
    managers = [u for u in staff_users if u.own][: n_staff * 3 // 5]
    others = [u for u in staff_users if not u.own]
    # A spread of the other roles: supervisors, head office, tech, counter, one auditor.
    by_role: dict[str, list[Any]] = defaultdict(list)
    for u in others:
        by_role[",".join(sorted(g.name for g in u.groups.all()))].append(u)
    chosen = list(managers)
    while len(chosen) < n_staff and any(by_role.values()):
        for role in sorted(by_role):
            if by_role[role] and len(chosen) < n_staff:
                chosen.append(by_role[role].pop(0))
    all_cases = list(OnboardingCase.objects.order_by("pk").values_list("public_id", "reference", "branch__path"))
    keys = pages_bench.sessions([u.username for u in chosen])
    staff = []
    for u in chosen:
        path = u.branch.path
        visible = [str(p) for p, _, bp in all_cases if bp.startswith(path)]
        own = [
            str(p)
            for p in OnboardingCase.objects.filter(account_manager=u).order_by("pk").values_list("public_id", flat=True)
        ]
        toggles = [
            str(p)
            # Onboarding cases only: a request type's joint test (the accounts change's) has no
            # suspension, and picking one read as a page without the form ("no form").
            for p in OnboardingCase.objects.filter(account_manager=u, state__in=toggle_states, case_type="onboarding")
            .order_by("pk")
            .values_list("public_id", flat=True)[:5]
        ]
        is_auditor = any(g.name == "auditor" for g in u.groups.all())
        secret = totp_secret(u)
        staff.append(
            Session(
                u.username,
                "auditor" if is_auditor else "staff",
                keys[u.username],
                cases=(own or visible)[:200] or [str(all_cases[0][0])],
                toggles=toggles,
                searches=[ref for _, ref, bp in all_cases[:: max(1, len(all_cases) // 50)] if bp.startswith(path)]
                or ["ZL-"],
                totp=secret if secret and secret == demo_totp_secret(u.username) else None,
            )
        )
    # Customers of companies with an open case first (they upload and write), then the others.
    portal_users = list(
        User.objects.filter(is_active=True, enterprise__isnull=False)
        .annotate(
            n=Count("enterprise__cases"),
            open=Count("enterprise__cases", filter=~Q(enterprise__cases__state__in=TERMINAL_STATES)),
        )
        .filter(n__gt=0)
        .order_by("-open", "-n", "pk")[:n_customers]
    )
    keys = pages_bench.sessions([u.username for u in portal_users])
    customers = []
    for u in portal_users:
        theirs = list(OnboardingCase.objects.filter(enterprise_id=u.enterprise_id).order_by("pk"))
        customers.append(
            Session(
                u.username,
                "customer",
                keys[u.username],
                cases=[str(c.public_id) for c in theirs],
                # Cases at a stage that asks the customer for a document (the page's upload
                # forms): a closed case, or one past its documents' stages, rightly shows none.
                uploads=[str(c.public_id) for c in theirs if uploadable_kinds(c, u)],
            )
        )
    erp = erp_clients(portal_users[:n_erp], port)
    return staff, customers, erp


def erp_clients(users: list[Any], port: int) -> list[dict[str, Any]]:
    """One client-credentials client per company (as `manage.py api_client create` makes it)."""
    from api import services
    from onboarding.models import OnboardingCase

    out = []
    for u in users:
        creds = services.api_client_create(name="基准测试 ERP", scopes=["read", "write"], enterprise=u.enterprise)
        out.append(
            {
                "id": creds.client_id,
                "secret": creds.client_secret,
                "cases": [
                    str(p)
                    for p in OnboardingCase.objects.filter(enterprise_id=u.enterprise_id).values_list(
                        "public_id", flat=True
                    )
                ],
            }
        )
    return out


def tokens(erp: list[dict[str, Any]], port: int) -> None:
    client = Client(port)
    for c in erp:
        basic = base64.b64encode(f"{c['id']}:{c['secret']}".encode()).decode()
        body, ctype = _form({"grant_type": "client_credentials", "scope": "read write"})
        status, _, data = client.request(
            "POST", "/api/v1/oauth/token/", {"Authorization": f"Basic {basic}", "Content-Type": ctype}, body
        )
        if status != 200:
            raise SystemExit(f"token for ERP client {c['id']}: {status} {data[:200]!r}")
        c["token"] = json.loads(data)["access_token"]


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn as deployed (config/gunicorn.py, its default workers and threads), serving config.wsgi."""
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", str(ROOT / "config/gunicorn.py"), "config.wsgi:application"],
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_ACCESS_LOG": "/dev/null"},
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = Client(port)
    for _ in range(100):
        try:
            client.request("GET", "/healthz", {})
            return proc
        except OSError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit(f"gunicorn on {port} did not start: see {log}")


def committed() -> dict[str, int]:
    """What the bench's writes left in the database (its transitions, messages, documents)."""
    from django.db import connection

    from documents.models import DocumentVersion
    from onboarding.models import CaseEvent
    from portal.models import CaseMessage

    out = {
        "transitions": CaseEvent.objects.filter(kind="transition", reason=BENCH_REASON).count(),
        "messages": CaseMessage.objects.filter(body__in=BENCH_MESSAGES).count(),
        "uploads": DocumentVersion.objects.filter(original_name="扫描件.pdf").count(),
    }
    connection.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="bench_mix")
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--reset", action="store_true")
    parser.add_argument("--levels", default="1,10", help="factors of the bank's rate, one run each")
    parser.add_argument("--duration", type=float, default=120, help="seconds per level")
    parser.add_argument("--staff", type=int, default=50)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--erp", type=int, default=3)
    parser.add_argument("--threads", type=int, default=64, help="client threads (simultaneous requests at most)")
    parser.add_argument("--port", type=int, default=8733)
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--warm-up", type=int, default=120, help="untimed page reads before the first level")
    args = parser.parse_args(argv)

    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        print("warning: no REDIS_URL: sessions and users read from the database (as without Redis in production)")
    env = {
        **os.environ,
        "DEBUG": "false",
        "ALLOW_INSECURE_DEV_KEY": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": pages_bench.PG + args.db,
    }
    os.environ.update(env)
    pages_bench.build(args.db, cases=args.cases, small=0, reset=args.reset)

    import django

    django.setup()
    from config.celery import app

    app.conf.broker_url = "memory://"  # the bench's own process queues nothing anywhere
    pages_bench.use_database(args.db)
    cases = pages_bench._case_count(args.db)
    staff, customers, erp = cast(args.staff, args.customers, args.erp, args.port)
    from django.db import connection

    connection.close()
    logdir = Path(tempfile.mkdtemp(prefix="bench_mix_"))
    server = start_gunicorn(env, args.port, logdir / "gunicorn.log")
    try:
        tokens(erp, args.port)
        mix = Mix(args.port, staff, customers, erp)
        managers = sum(1 for s in staff if s.toggles)
        print(
            f"PostgreSQL {cases:,} cases; gunicorn config/gunicorn.py defaults "
            f"(workers {os.environ.get('GUNICORN_WORKERS', 'default')}, threads "
            f"{os.environ.get('GUNICORN_THREADS', 'default')}), DEBUG off, "
            f"{'Redis' if redis_url else 'no Redis'}; no page cache; {len(staff)} staff sessions ({managers} account "
            f"managers with cases to suspend and resume), {len(customers)} customer sessions, {len(erp)} ERP clients"
        )
        warm_up(mix, args.warm_up)
        for i, factor in enumerate(float(x) for x in args.levels.split(",")):
            before = committed()
            level = run_level(mix, factor, args.duration, args.threads, args.seed + i)
            report(mix, level, args.duration)
            after = committed()
            print("committed (read back from the database): " + ", ".join(f"{k} {after[k] - before[k]}" for k in after))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
