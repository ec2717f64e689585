"""manage.py api_client create|rotate|revoke: API clients for a company (--enterprise USCC) or a branch (--branch CODE)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api import services
from api.models import ApiClient
from branches.models import Branch
from companies.models import Enterprise
from onboarding.services import CaseError


class Command(BaseCommand):
    help = "Create, rotate or revoke an API client; the secret is printed once and stored hashed."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        owner = create.add_mutually_exclusive_group(required=True)
        owner.add_argument("--enterprise", metavar="USCC")
        owner.add_argument("--branch", metavar="CODE")
        create.add_argument("--scopes", default="read", help="comma-separated: read,write")
        create.add_argument("--roles", default="", help="staff roles for a branch client, comma-separated")
        create.add_argument("--name", default="")
        for name in ("rotate", "revoke"):
            p = sub.add_parser(name)
            p.add_argument("client_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                self._create(options)
                return
            client = ApiClient.objects.filter(application__client_id=options["client_id"]).first()
            if client is None:
                raise CommandError("no such client")
            if options["action"] == "rotate":
                creds = services.api_client_rotate(client=client)
                self.stdout.write(f"client_id: {creds.client_id}\nclient_secret: {creds.client_secret}")
            else:
                services.api_client_revoke(client=client)
                self.stdout.write(f"revoked {options['client_id']}")
        except CaseError as exc:
            raise CommandError(exc.message) from None

    def _create(self, options: dict[str, Any]) -> None:
        scopes = options["scopes"].split(",")
        if options["enterprise"]:
            enterprise = Enterprise.objects.filter(uscc=options["enterprise"].strip().upper()).first()
            if enterprise is None:
                raise CommandError("no company with this USCC")
            creds = services.api_client_create(
                name=options["name"] or f"{enterprise.name} API", scopes=scopes, enterprise=enterprise
            )
        else:
            branch = Branch.objects.filter(code=options["branch"]).first()
            if branch is None:
                raise CommandError("no branch with this code")
            roles = [r for r in options["roles"].split(",") if r] or ["auditor"]
            creds = services.api_client_create(
                name=options["name"] or f"{branch.name} API", scopes=scopes, branch=branch, roles=roles
            )
        self.stdout.write(f"client_id: {creds.client_id}\nclient_secret: {creds.client_secret}")
        self.stdout.write("The secret is shown once; it is stored hashed.")
