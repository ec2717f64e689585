"""`python -m tests.oidc_provider.serve PORT`: migrate, load the client and the people, serve."""

import json
import sys

import django
from django.core.management import call_command


def main(port: int) -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    client = json.loads((settings.DIR / "client.json").read_text())
    Application.objects.create(
        name="direct-link tracker",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=client["redirect_uri"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,  # a first-party application: the platform asks no consent
    )
    for username, person in json.loads((settings.DIR / "people.json").read_text()).items():
        User.objects.create_user(username, password=person["password"])
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
