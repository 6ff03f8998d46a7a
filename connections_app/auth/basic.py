"""HTTP Basic: ``Authorization: Basic base64(username:password)``."""

from __future__ import annotations

from requests.auth import HTTPBasicAuth

from services_catalog.fields import Parameter

from .base import AuthType, basic_token, encodings_of

FIELDS = (Parameter(key="username", display_name="Username"), Parameter(key="password", display_name="Password"))


class Basic(AuthType):
    name = "basic"
    label = "Basic authentication"
    fixed_credential_fields = FIELDS
    headers_only = "Basic authentication travels in a header; use param_type: header."

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
