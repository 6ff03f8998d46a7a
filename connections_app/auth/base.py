"""The one interface every auth type implements, and the pieces several of them share.

An auth type is one class that knows everything about its kind of service: the block of
the service definition it reads (``section`` and its pydantic ``section_model``), the rules
that span the definition (``check_service``), the credential fields a connection gives or
whether it connects through consent or fetches its own token, its label, and how a request
is signed (``build_auth`` turns stored credentials into a ``requests.auth.AuthBase``, so the
invoke path never branches on the auth type). It also names what it injects, so callers
cannot collide with it and the invoke envelope can scrub any echo of a secret.

Forms, serializers, templates, the API and the consent flow ask the registry
(``auth.registry``) for the type instead of branching on ``auth_type``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, ClassVar, Iterable
from urllib.parse import quote, quote_plus

import requests
from requests.models import PreparedRequest

from services_catalog.fields import FieldError, Parameter, Shape

from ..errors import ValidationFailed

if TYPE_CHECKING:  # the schema is assembled from the auth types, not the other way round
    from services_catalog.schema import ServiceDefinition

    from .token_calls import ConsentStart, Grant

# How a connection of this type gets its credentials.
TYPED = "typed"  # the person types them (API key, Basic)
CONSENT = "consent"  # a consent flow at the provider (OAuth 1.0a, OAuth 2.0 code)
FETCHED = "fetched"  # the product fetches a token itself (OAuth 2.0 client credentials)


class AuthType:
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: The block of the service definition this type reads (e.g. "oauth2"), and its shape.
    section: ClassVar[str | None] = None
    section_model: ClassVar[type[Shape] | None] = None
    #: The (id, secret) field names of the organisation's OAuth client in that block.
    client_fields: ClassVar[tuple[str, str] | None] = None
    #: Whether the service's ``parameters`` list is this type's (API key; Basic's extra
    #: secrets beside the password) or must stay empty, and whether one is required.
    takes_parameters: ClassVar[bool] = False
    parameters_required: ClassVar[bool] = True
    #: The credential fields every connection of this type gives, when they do not depend on
    #: the service (Basic, AWS): the custom-service page asks them before a service exists.
    fixed_credential_fields: ClassVar[tuple[Parameter, ...]] = ()
    #: The ``param_type`` values this type accepts (where its credentials or parameters
    #: travel), and the error that says so when another is chosen.
    param_types: ClassVar[tuple[str, ...]] = ("header", "query", "form")
    param_type_error: ClassVar[str | None] = None
    #: Whether a connection asks the provider for scopes (the page then takes scope rows).
    asks_scopes: ClassVar[bool] = False
    #: A consent type's callback path, and the callback parameter that finds its state.
    callback_path: ClassVar[str | None] = None
    state_param: ClassVar[str | None] = None

    def __init__(self, service: "ServiceDefinition"):
        self.service = service

    # -- the service definition ----------------------------------------------------------
    @classmethod
    def check_service(cls, service: "ServiceDefinition") -> None:
        """Raise ``FieldError`` for a rule of this type that spans the definition."""
        if cls.takes_parameters and cls.parameters_required and not service.parameters:
            raise FieldError("parameters", f"An {cls.label} service needs at least one parameter.")
        if not cls.takes_parameters and service.parameters:
            raise FieldError("parameters", "Only API key and Basic authentication services take parameters.")
        if service.param_type not in cls.param_types:
            raise FieldError("param_type", cls.param_type_error or f"Must be one of: {', '.join(cls.param_types)}.")

    @classmethod
    def provided_names(cls, service: "ServiceDefinition") -> tuple[str, ...]:
        """Placeholders the provider fills per connection (values kept from its answers),
        beside the config fields a person fills."""
        return ()

    @classmethod
    def templated_values(cls, service: "ServiceDefinition") -> list[tuple[str, str]]:
        """(field, text) of this type's block whose {placeholders} must name config fields
        (URLs and hosts are checked by the definition itself)."""
        return []

    # -- the organisation's client -------------------------------------------------------
    def client_field_names(self) -> tuple[str, str] | None:
        """The (id, secret) fields of the organisation's client in this service's block: the
        secret slot may be a private key (``client_private_key``) rather than a secret."""
        return self.client_fields

    def client_extra_names(self) -> tuple[str, ...]:
        """Non-secret values of the organisation's client beside its id, in this service's
        block (OAuth 2.0: eBay's ``redirect_name``)."""
        return ()

    @property
    def client_per_call(self) -> bool:
        """Whether every call uses the organisation's client (OAuth 1.0a signs with it; an
        OAuth 2.0 service may send it in headers): invoke then reads it, decrypted, per call."""
        return False

    @property
    def client_optional(self) -> bool:
        """Whether connections work without the organisation's client (they prove themselves)."""
        return False

    def client_configured(self) -> bool:
        """Whether the block carries what connections need of the organisation's client."""
        names = self.client_field_names()
        block = getattr(self.service, self.section) if self.section else None
        if names is None or self.client_optional:
            return True
        return block is not None and all(getattr(block, name) for name in names)

    # -- how a connection gets its credentials --------------------------------------------
    @property
    def connects_by(self) -> str:
        return TYPED

    @property
    def needs_consent(self) -> bool:
        return self.connects_by == CONSENT

    @property
    def takes_scopes(self) -> bool:
        return self.client_fields is not None

    def credential_fields(self) -> tuple[Parameter, ...]:
        """The values a person types for a connection (empty when it connects otherwise)."""
        return self.fixed_credential_fields

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
                if not partial and getattr(f, "required", True):
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

    def credential_hints(self, credentials: dict) -> list[tuple[str, str]]:
        """Each credential given, by display name, with at most its last four characters
        (``…abcd``; nothing of a value shorter than 12, so a hint never gives away most of a
        short secret). A credential left empty is not listed."""
        out = []
        for field in self.credential_fields():
            value = credentials.get(field.key) or ""
            if value:
                out.append((field.display_name, f"…{value[-4:]}" if len(value) >= 12 else ""))
        return out

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials)

    # -- tokens from the provider (consent, refresh, its own token, revocation) ------------
    # The protocol steps; ``oauth_flow`` and ``tokens`` store what they give, under the state
    # row and the refresh lease. Failures: ``ConsentFailed`` while finishing consent,
    # ``RefreshFailed`` (or another ``ConnectionsError``) otherwise.
    def start_consent(self, *, scopes: list[str], state: str, redirect_uri: str) -> "ConsentStart":
        """Where to send the browser, and what to keep (encrypted) until the callback."""
        raise NotImplementedError

    def finish_consent(self, *, params: dict, secrets: dict, redirect_uri: str, config: dict) -> "Grant":
        """The grant the callback's ``params`` lead to (``secrets``: what the start kept;
        ``config``: the connection's, to check values kept from the provider against)."""
        raise NotImplementedError

    def can_renew(self, credentials: dict) -> bool:
        """Whether a new token can be had without a person (a refresh token, or fetched)."""
        return False

    def renewed_token(self, *, credentials: dict, scopes: list[str]) -> "Grant":
        """A new token in place of the one in ``credentials`` (refreshed, or fetched again)."""
        raise NotImplementedError

    def fetch_own_token(self, *, credentials: dict, scopes: list[str], config: dict) -> "Grant":
        """The first token of a connection that needs no consent."""
        raise NotImplementedError

    def revoke(self, credentials: dict) -> list[str]:
        """Revoke the tokens at the provider; return what went wrong (nothing secret)."""
        return []

    # -- use ------------------------------------------------------------------------------
    def build_auth(self, credentials: dict) -> requests.auth.AuthBase:
        raise NotImplementedError

    def injected_names(self) -> set[str]:
        """Header names or parameter keys (lower case) this type sets on a request."""
        return set()

    def secret_values(self, credentials: dict) -> list[str]:
        """Every form in which a secret may travel, to scrub echoes from responses."""
        return []


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
