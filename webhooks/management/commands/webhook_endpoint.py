"""manage.py webhook_endpoint add|rotate|test: webhook endpoints for a company (--enterprise USCC) or a branch (--branch CODE)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from branches.models import Branch
from companies.models import Enterprise
from onboarding.services import CaseError
from webhooks import services
from webhooks.models import WebhookEndpoint, WebhookEvent


class Command(BaseCommand):
    help = "Register a webhook endpoint (prints its signing secret once), rotate its secret or send a test event."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add")
        owner = add.add_mutually_exclusive_group(required=True)
        owner.add_argument("--enterprise", metavar="USCC")
        owner.add_argument("--branch", metavar="CODE")
        add.add_argument("--url", required=True)
        add.add_argument(
            "--events",
            default=",".join(e for e in WebhookEvent.values if e != WebhookEvent.TEST),
            help="comma-separated: " + ", ".join(WebhookEvent.values),
        )
        add.add_argument("--description", default="")
        for name in ("rotate", "test"):
            p = sub.add_parser(name)
            p.add_argument("endpoint_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "add":
                endpoint = services.endpoint_add(
                    url=options["url"],
                    events=[e.strip() for e in options["events"].split(",") if e.strip()],
                    enterprise=self._enterprise(options["enterprise"]) if options["enterprise"] else None,
                    branch=self._branch(options["branch"]) if options["branch"] else None,
                    description=options["description"],
                )
                self.stdout.write(f"endpoint_id: {endpoint.public_id}\nsecret: {endpoint.secret}")
                return
            found = WebhookEndpoint.objects.filter(public_id=options["endpoint_id"]).first()
            if found is None:
                raise CommandError("no such endpoint")
            if options["action"] == "rotate":
                self.stdout.write(f"secret: {services.endpoint_rotate_secret(endpoint=found)}")
            else:
                self.stdout.write(f"delivery_id: {services.delivery_test(endpoint=found).public_id}")
        except CaseError as exc:
            raise CommandError(exc.message) from None

    def _enterprise(self, uscc: str) -> Enterprise:
        found = Enterprise.objects.filter(uscc=uscc.strip().upper()).first()
        if found is None:
            raise CommandError("no company with this USCC")
        return found

    def _branch(self, code: str) -> Branch:
        found = Branch.objects.filter(code=code).first()
        if found is None:
            raise CommandError("no branch with this code")
        return found
