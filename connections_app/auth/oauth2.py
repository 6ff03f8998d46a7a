"""OAuth 2.0: the access token travels as ``Authorization: <token_prefix> <token>`` or as
``access_token=`` in the query string or form body. Getting and refreshing tokens is the
job of ``oauth_flow`` and ``services.connection_refresh``; this only applies them.
"""

from __future__ import annotations

from .base import AuthStrategy, ParameterInjector, encodings_of


class OAuth2Strategy(AuthStrategy):
    auth_type = "oauth2"
    uses_consent = True

    def build_auth(self, credentials: dict) -> ParameterInjector:
        token = credentials["access_token"]
        if self.service.param_type == "header":
            return ParameterInjector("header", {"Authorization": f"{self.service.oauth2.token_prefix} {token}"})
        return ParameterInjector(self.service.param_type, {"access_token": token})

    def injected_names(self) -> set[str]:
        return {"authorization"} if self.service.param_type == "header" else {"access_token"}

    def secret_values(self, credentials: dict) -> list[str]:
        return encodings_of([credentials.get("access_token", ""), credentials.get("refresh_token", "")])

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials.get("access_token"))
