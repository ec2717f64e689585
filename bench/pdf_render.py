"""Median time to render the application form through our pipeline, and the same HTML through
bare WeasyPrint (default fetcher, fresh font configuration, as its docs show), in one run.

    DEBUG=true .venv/bin/python bench/pdf_render.py [--runs 15]

Uses an in-memory SQLite database with one case walked to "live" by the test builders, so it
needs no server and leaves nothing behind. Target: ours < 0.5 s median and within 1.5x of bare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOW_INSECURE_DEV_KEY", "true")
os.environ["DATABASE_URL"] = "sqlite://:memory:"
os.environ.setdefault("DOCUMENT_ROOT", tempfile.mkdtemp(prefix="bench-docs-"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from weasyprint import HTML  # noqa: E402

from documents import forms_pdf  # noqa: E402
from onboarding.states import State  # noqa: E402


def build_case():
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from tests.factories import World, enterprise, user

    w = World()
    company = enterprise(w.branch_a, handler_is_rep=False, accounts=3, name="北京堃喆医药科技有限公司")
    user("bench_customer", "enterprise_user", enterprise=company)
    return w.case(State.LIVE, company=company)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    case = build_case()
    kind = "application_form"
    now = timezone.now()

    def ours() -> bytes:
        # The whole pipeline: read the case, render the template, lay out with our fetcher.
        context = forms_pdf.form_context(case, kind)
        return forms_pdf.render_form(kind, context, number=1, generated_at=now)

    html = forms_pdf.render_html(kind, forms_pdf.form_context(case, kind), number=1, generated_at=now)

    def bare() -> bytes:
        return HTML(string=html, base_url=forms_pdf.BASE_URL).write_pdf()

    # Warm both (imports, fontconfig caches), then alternate so drift hits both alike.
    ours(), bare()
    t_ours, t_bare = [], []
    size_ours = size_bare = 0
    for _ in range(args.runs):
        start = time.perf_counter()
        size_ours = len(ours())
        t_ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        size_bare = len(bare())
        t_bare.append(time.perf_counter() - start)
    m_ours, m_bare = statistics.median(t_ours), statistics.median(t_bare)
    print(f"application form, {args.runs} runs each")
    print(
        f"  our pipeline     median {m_ours * 1000:7.1f} ms  (min {min(t_ours) * 1000:.1f})  {size_ours / 1024:.0f} KB"
    )
    print(
        f"  bare WeasyPrint  median {m_bare * 1000:7.1f} ms  (min {min(t_bare) * 1000:.1f})  {size_bare / 1024:.0f} KB"
    )
    print(f"  ratio ours/bare  {m_ours / m_bare:.2f}")
    print(
        f"  target: ours < 500 ms: {'yes' if m_ours < 0.5 else 'NO'}; within 1.5x: {'yes' if m_ours / m_bare <= 1.5 else 'NO'}"
    )


if __name__ == "__main__":
    main()
