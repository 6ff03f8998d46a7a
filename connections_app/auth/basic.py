"""HTTP Basic: ``Authorization: Basic base64(username:password)``."""

from __future__ import annotations

from requests.auth import HTTPBasicAuth

from .base import AuthStrategy, basic_token, encodings_of


class BasicStrategy(AuthStrategy):
    auth_type = "basic"

    def build_auth(self, credentials: dict) -> HTTPBasicAuth:
        return HTTPBasicAuth(credentials["username"], credentials["password"])

    def injected_names(self) -> set[str]:
        return {"authorization"}

    def hint(self, credentials: dict) -> str:
        password = credentials.get("password", "")
        return password[-4:] if len(password) >= 12 else ""

    def secret_values(self, credentials: dict) -> list[str]:
        token = basic_token(credentials.get("username", ""), credentials.get("password", ""))
        return encodings_of([credentials.get("password", ""), token])

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials.get("username")) and bool(credentials.get("password"))
