"""The claims the test provider puts in tokens: read from the people file at every token."""

import json
from typing import Any

from django.conf import settings
from oauth2_provider.oauth2_validators import OAuth2Validator


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim below, whatever the scope

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        people = json.loads((settings.DIR / "people.json").read_text())
        return dict(people[request.user.username]["claims"])
