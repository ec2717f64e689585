"""The OpenAPI security scheme for our client-credentials authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClientCredentialsScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ClientCredentialsAuthentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        return {self.name: ["write"] if auto_schema.method not in ("GET", "HEAD", "OPTIONS") else ["read"]}

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/api/v1/oauth/token/",
                    "scopes": {"read": "read cases", "write": "act on cases"},
                }
            },
        }
