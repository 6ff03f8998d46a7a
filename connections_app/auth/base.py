"""The one interface every auth type implements.

A strategy knows which credential fields a connection needs, validates them, and turns
stored credentials into a ``requests.auth.AuthBase`` so the invoke path never branches on
the auth type. It also names what it injects, so callers cannot collide with it and the
invoke envelope can scrub any echo of a secret.
"""

from __future__ import annotations

import base64
from typing import Any, Iterable
from urllib.parse import quote, quote_plus

import requests
from requests.models import PreparedRequest

from services_catalog.schema import Parameter, ServiceDefinition

from ..errors import ValidationFailed


class AuthStrategy:
    auth_type: str = ""
    #: True when credentials come from a consent flow rather than typed values.
    uses_consent: bool = False

    def __init__(self, service: ServiceDefinition):
        self.service = service

    # -- typed credentials (api_key / basic) ----------------------------------------
    def credential_fields(self) -> tuple[Parameter, ...]:
        return self.service.credential_fields()

    def validate_credentials(self, values: Any, *, partial: bool = False) -> dict[str, str]:
        """Return the cleaned credential values or raise ValidationFailed naming each field."""
        fields = self.credential_fields()
        if not fields:
            if values:
                raise ValidationFailed.field("credentials", "This service connects through consent; send no credentials.")
            return {}
        if not isinstance(values, dict):
            raise ValidationFailed.field("credentials", "Must be an object of credential values.")
        known = {f.key for f in fields}
        errors: dict[str, list[str]] = {}
        for key in values:
            if key not in known:
                errors[f"credentials.{key}"] = [f"Unknown credential; expected {', '.join(sorted(known))}."]
        cleaned = {}
        for f in fields:
            value = values.get(f.key)
            if value is None or value == "":
                if not partial:
                    errors[f"credentials.{f.key}"] = ["This field is required."]
                continue
            if not isinstance(value, str):
                errors[f"credentials.{f.key}"] = ["Must be a string."]
            elif len(value) > 4096 or any(c in value for c in "\r\n\0"):
                errors[f"credentials.{f.key}"] = ["Must be one line of at most 4096 characters."]
            else:
                cleaned[f.key] = value
        if errors:
            raise ValidationFailed("Some credentials are missing or not valid.", fields=errors)
        return cleaned

    def hint(self, credentials: dict) -> str:
        """Return at most the last four characters of the main secret, for pages."""
        return ""

    # -- use ----------------------------------------------------------------------------
    def build_auth(self, credentials: dict) -> requests.auth.AuthBase:
        raise NotImplementedError

    def injected_names(self) -> set[str]:
        """Header names or parameter keys (lower case) this strategy sets on a request."""
        return set()

    def secret_values(self, credentials: dict) -> list[str]:
        """Every form in which a secret may travel, to scrub echoes from responses."""
        return []

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials)


class ParameterInjector(requests.auth.AuthBase):
    """Put values into a header, the query string or a form body, per ``param_type``."""

    def __init__(self, param_type: str, values: dict[str, str]):
        self.param_type = param_type
        self.values = values

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.param_type == "header":
            for key, value in self.values.items():
                request.headers[key] = value
        elif self.param_type == "query":
            request.prepare_url(request.url, list(self.values.items()))
        else:
            inject_form(request, self.values)
        return request


def inject_form(request: PreparedRequest, values: dict[str, str]) -> None:
    """Add form fields to a form-encoded (or empty) body; refuse other bodies."""
    content_type = request.headers.get("Content-Type", "")
    body = request.body or ""
    if body and not content_type.startswith("application/x-www-form-urlencoded"):
        raise ValidationFailed.field("form", "This service takes credentials as form fields; send the body as form.")
    if isinstance(body, bytes):
        body = body.decode("latin-1")
    encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in values.items())
    request.body = f"{body}&{encoded}" if body else encoded
    request.headers["Content-Type"] = "application/x-www-form-urlencoded"
    request.headers["Content-Length"] = str(len(request.body.encode("latin-1")))


def encodings_of(secrets: Iterable[str]) -> list[str]:
    """The plain, URL-encoded and base64 spellings of each secret (for scrubbing echoes)."""
    out: list[str] = []
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        out.extend({secret, quote(secret, safe=""), quote_plus(secret)})
    return sorted(set(out), key=len, reverse=True)


def basic_token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()
