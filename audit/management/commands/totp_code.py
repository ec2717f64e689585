"""Print the current TOTP code of a demo account (the ones `seed_demo` enrols).

Refuses any account whose secret is not the demo's published one, so it cannot be used to
read the codes of real users enrolled through the QR code.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.mfa import app_settings as mfa_settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.mfa import demo_totp_secret, totp_code, totp_secret


class Command(BaseCommand):
    help = "Print the current two-factor code of a demo account, e.g. `totp_code am_bjhd`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        secret = totp_secret(user)
        if secret is None:
            raise CommandError(f"{username} has no authenticator")
        if secret != demo_totp_secret(username):
            raise CommandError(f"{username} is not a demo account: read the code from the authenticator app")
        period = mfa_settings.TOTP_PERIOD
        left = period - int(time.time()) % period
        self.stdout.write(totp_code(secret))
        self.stderr.write(f"valid for {left} more seconds; each code works once")
