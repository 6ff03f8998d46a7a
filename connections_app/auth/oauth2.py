"""OAuth 2.0: the service's ``oauth2`` block, and how its access token travels.

The token travels in ``token_header`` (default ``Authorization``) as ``token_template``
(default ``{token_prefix} {access_token}``), or under ``token_param`` (default
``access_token``) in the query string or form body. Getting and refreshing tokens is the job
of ``oauth_flow`` and ``tokens``; this type declares the block, the grants' rules, the key a
JWT bearer connection gives (RFC 7523 section 2.1) and signs its assertion with Authlib, and
applies the token.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from authlib.oauth2.rfc7523 import JWTBearerGrant
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from pydantic import AfterValidator, Field, StrictBool, StringConstraints, model_validator

from services_catalog.fields import (
    SECRET_FIELD, ClientId, ClientSecret, CredentialField, FieldError, Shape, StringMap, TokenTemplate, Url,
)

from ..errors import ValidationFailed
from .base import CONSENT, FETCHED, AuthType, ParameterInjector, encodings_of

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 60  # Box allows at most 60 s, Salesforce 3 minutes, Google an hour
KEY_MAX_CHARS = 16384
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
# What a JWT bearer connection gives: a Google-style key file, or a PEM key and its issuer.
JWT_FIELDS = (
    CredentialField(key="service_account_json", display_name="Service account key file (JSON), or leave empty and give a private key",
                    required=False, multiline=True),
    CredentialField(key="private_key", display_name="Private key (PEM)", required=False, multiline=True),
    CredentialField(key="issuer", display_name="Issuer (client id or service account e-mail)", required=False),
    CredentialField(key="subject", display_name="Subject: the user to act as (optional)", required=False),
    CredentialField(key="key_id", display_name="Key id (optional)", required=False),
)
JWT_CREDENTIAL_KEYS = tuple(f.key for f in JWT_FIELDS)


def _pem(value: str) -> str:
    if "\0" in value or "-----BEGIN" not in value or "PRIVATE KEY-----" not in value:
        raise ValueError("Must be a PEM private key (-----BEGIN ... PRIVATE KEY-----).")
    return value


PrivateKeyPem = Annotated[str, StringConstraints(min_length=1, max_length=KEY_MAX_CHARS), AfterValidator(_pem)]


def _kept_path(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,59}(\.[A-Za-z][A-Za-z0-9_]{0,59}){0,3}", value):
        raise ValueError(f"{value!r} is not a name or dotted path (team.id).")
    return value


KeptPath = Annotated[str, AfterValidator(_kept_path)]


def kept_name(path: str) -> str:
    """The placeholder a kept value is stored under: ``team.id`` -> ``team_id``, ``realmId`` -> ``realm_id``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path).replace(".", "_").lower()


def load_private_key(pem: str):
    """Import a PEM private key (RSA or EC) with joserfc, or raise ValueError naming no secret."""
    for kind in (RSAKey, ECKey):
        try:
            key = kind.import_key(pem)
        except (JoseError, ValueError, TypeError):
            continue
        if key.is_private:
            return key
    raise ValueError("The private key could not be read (RSA or EC, PEM).")

# Parameters the consent flow sets itself; a service may not override them.
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}
)


class OAuth2Config(Shape):
    grant_type: Literal["authorization_code", "client_credentials", "jwt_bearer"] = "authorization_code"
    authorize_url: Url | None = None
    token_url: Url
    refresh_url: Annotated[Url | None, Field(description="Defaults to token_url.")] = None
    revoke_url: Annotated[Url | None, Field(description="RFC 7009 revocation endpoint, called on revoke and delete.")] = None
    scope_delimiter: Literal[" ", ",", "+", ";"] = " "
    pkce: StrictBool = True
    token_prefix: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$", description="A single word such as Bearer.")] = "Bearer"
    token_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,100}$", description="Header the token travels in (param_type header).")] = "Authorization"
    token_template: Annotated[TokenTemplate, Field(description="What travels in token_header.")] = "{token_prefix} {access_token}"
    token_param: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,100}$", description="Query or form name of the token (param_type query/form).")] = "access_token"
    token_endpoint_auth_method: Literal["client_secret_post", "client_secret_basic", "private_key_jwt"] = "client_secret_post"
    authorize_params: StringMap = {}
    client_id: ClientId | None = None
    client_secret: Annotated[ClientSecret | None, SECRET_FIELD] = None
    client_private_key: Annotated[PrivateKeyPem | None, SECRET_FIELD] = None
    client_key_id: Annotated[str | None, StringConstraints(max_length=200, pattern=r"^\S+$")] = None
    assertion_audience: Annotated[Url | None, Field(description="aud of JWTs we sign; defaults to token_url.")] = None
    assertion_algorithm: Literal[ASSERTION_ALGORITHMS] = "RS256"  # type: ignore[valid-type]
    assertion_scope: Annotated[Literal["form", "claim"], Field(description="jwt_bearer: scopes as a form field or a scope claim (Google).")] = "form"
    assertion_claims: Annotated[StringMap, Field(description="Extra claims of the jwt_bearer assertion (Box: box_sub_type).")] = {}
    keep_from_token_response: Annotated[tuple[KeptPath, ...], Field(description="Values kept in the connection's config (team.id -> {team_id}).")] = ()
    token_path: Annotated[str | None, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="Object of the token answer holding the token to use (Slack: authed_user).")] = None
    keep_from_callback: Annotated[tuple[KeptPath, ...], Field(description="Callback query values kept in the connection's config (realmId -> {realm_id}).")] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "OAuth2Config":
        if self.grant_type == "authorization_code" and not self.authorize_url:
            raise FieldError("authorize_url", "This field is required.")
        if self.keep_from_callback and self.grant_type != "authorization_code":
            raise FieldError("keep_from_callback", "Only an authorization_code grant has a callback.")
        names = [kept_name(p) for p in (*self.keep_from_token_response, *self.keep_from_callback)]
        if len(set(names)) != len(names):
            raise FieldError("keep_from_token_response", "Two kept values have the same name.")
        reserved = sorted(RESERVED_AUTHORIZE_PARAMS & set(self.authorize_params))
        if reserved:
            raise FieldError("authorize_params", f"May not set {', '.join(reserved)}.")
        if self.refresh_url is None:
            object.__setattr__(self, "refresh_url", self.token_url)
        return self


class OAuth2(AuthType):
    name = "oauth2"
    label = "OAuth 2"
    section = "oauth2"
    section_model = OAuth2Config
    client_fields = ("client_id", "client_secret")

    @classmethod
    def check_service(cls, service) -> None:
        super().check_service(service)
        # A provider's value may move a URL only inside hosts the entry names itself.
        kept = set(cls.provided_names(service))
        for host in service.allowed_hosts:
            if kept & set(re.findall(r"\{([a-z][a-z0-9_]*)\}", host)):
                raise FieldError("allowed_hosts", "A value kept from the provider cannot name an allowed host; list the hosts it may be.")

        for i, scope in enumerate(service.scopes):
            if scope.param != "scope" and scope.param in RESERVED_AUTHORIZE_PARAMS | set(service.oauth2.authorize_params):
                raise FieldError(f"scopes[{i}].param", f"{scope.param} is set by the consent flow or authorize_params.")

    @classmethod
    def provided_names(cls, service) -> tuple[str, ...]:
        config = service.oauth2
        return tuple(kept_name(p) for p in (*config.keep_from_token_response, *config.keep_from_callback)) if config else ()

    @property
    def connects_by(self) -> str:
        return FETCHED if self.service.oauth2.grant_type in ("client_credentials", "jwt_bearer") else CONSENT

    def client_field_names(self) -> tuple[str, str]:
        if self.service.oauth2.token_endpoint_auth_method == "private_key_jwt":
            return ("client_id", "client_private_key")
        return ("client_id", "client_secret")

    @property
    def client_optional(self) -> bool:
        # A JWT bearer connection proves itself with its own key; a client is optional.
        return self.service.oauth2.grant_type == "jwt_bearer"

    def scope_params(self, scopes: list[str]) -> dict[str, str]:
        """The chosen scopes by the authorize parameter they go under (``scope``, Slack's
        ``user_scope``), each joined with the service's delimiter."""
        params = {s.name: s.param for s in self.service.scopes}
        grouped: dict[str, list[str]] = {}
        for name in scopes:
            grouped.setdefault(params.get(name, "scope"), []).append(name)
        return {param: self.service.oauth2.scope_delimiter.join(names) for param, names in grouped.items()}

    # -- the JWT bearer grant: the key a connection gives, and the assertion --------------
    def credential_fields(self):
        return JWT_FIELDS if self.service.oauth2.grant_type == "jwt_bearer" else ()

    def validate_credentials(self, values, *, partial: bool = False) -> dict[str, str]:
        if self.service.oauth2.grant_type != "jwt_bearer":
            return super().validate_credentials(values, partial=partial)
        if not isinstance(values, dict):
            raise ValidationFailed.field("credentials", "Must be an object of credential values.")
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, str] = {}
        for key, value in values.items():
            if key not in JWT_CREDENTIAL_KEYS:
                errors[f"credentials.{key}"] = [f"Unknown credential; expected {', '.join(JWT_CREDENTIAL_KEYS)}."]
            elif value in (None, ""):
                continue
            elif not isinstance(value, str) or len(value) > KEY_MAX_CHARS or "\0" in value:
                errors[f"credentials.{key}"] = [f"Must be a string of at most {KEY_MAX_CHARS} characters."]
            elif key not in ("service_account_json", "private_key") and any(c in value for c in "\r\n"):
                errors[f"credentials.{key}"] = ["Must be one line."]
            else:
                cleaned[key] = value.strip()
        if not errors:
            try:
                self.signing_material(cleaned)
            except ValueError as exc:
                field = "service_account_json" if "service_account_json" in cleaned else "private_key"
                errors[f"credentials.{field}"] = [str(exc)]
        if errors:
            raise ValidationFailed("Some credentials are missing or not valid.", fields=errors)
        return cleaned

    def signing_material(self, credentials: dict) -> dict:
        """``{key, issuer, subject, key_id}`` from a key file or a PEM key; ValueError names no secret."""
        raw = credentials.get("service_account_json")
        if raw and credentials.get("private_key"):
            raise ValueError("Give either a key file or a private key, not both.")
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                raise ValueError("The key file is not JSON.") from None
            if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("client_email", "private_key")):
                raise ValueError("The key file has no client_email and private_key (is it a service account key?).")
            token_uri = data.get("token_uri")
            if token_uri and token_uri != self.service.oauth2.token_url:
                raise ValueError("The key file's token_uri is not this service's token endpoint.")
            material = {"pem": data["private_key"], "issuer": data["client_email"], "key_id": data.get("private_key_id")}
        elif credentials.get("private_key"):
            if not credentials.get("issuer"):
                raise ValueError("A private key needs its issuer (the client id or account it belongs to).")
            material = {"pem": credentials["private_key"], "issuer": credentials["issuer"], "key_id": credentials.get("key_id")}
        else:
            raise ValueError("Give a service account key file or a private key.")
        if credentials.get("key_id"):
            material["key_id"] = credentials["key_id"]
        material["subject"] = credentials.get("subject") or None
        material["key"] = load_private_key(material.pop("pem"))
        return material

    def assertion(self, credentials: dict, scope: str | None) -> str:
        """A fresh RFC 7523 assertion signed with the connection's key (Authlib signs it)."""
        config = self.service.oauth2
        material = self.signing_material(credentials)
        claims = dict(config.assertion_claims)
        if scope and config.assertion_scope == "claim":
            claims["scope"] = scope
        header = {"alg": config.assertion_algorithm}
        if material["key_id"]:
            header["kid"] = material["key_id"]
        return JWTBearerGrant.sign(
            material["key"], issuer=material["issuer"], audience=config.assertion_audience or config.token_url,
            subject=material["subject"], claims=claims, header=header, expires_in=ASSERTION_SECONDS,
        )

    # -- use ------------------------------------------------------------------------------
    def build_auth(self, credentials: dict) -> ParameterInjector:
        config = self.service.oauth2
        token = credentials["access_token"]
        if self.service.param_type == "header":
            value = config.token_template.replace("{token_prefix}", config.token_prefix).replace("{access_token}", token)
            return ParameterInjector("header", {config.token_header: value})
        return ParameterInjector(self.service.param_type, {config.token_param: token})

    def injected_names(self) -> set[str]:
        config = self.service.oauth2
        return {config.token_header.lower()} if self.service.param_type == "header" else {config.token_param.lower()}

    def hint(self, credentials: dict) -> str:
        return ""

    def secret_values(self, credentials: dict) -> list[str]:
        return encodings_of([credentials.get(k, "") for k in ("access_token", "refresh_token", "private_key")])

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials.get("access_token"))
