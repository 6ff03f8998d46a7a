"""The service definition's ``oauth2`` block (``OAuth2Config``) and the value types it uses."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StringConstraints, model_validator

from services_catalog.fields import SECRET_FIELD, ChoiceLabels, ClientId, ClientSecret, FieldError, Shape, StringMap, TokenTemplate, Url

KEY_MAX_CHARS = 16384
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")


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

# Parameters the consent flow sets itself; a service may not override them.
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}
)


class OAuth2Config(Shape):
    grant_type: Annotated[Literal["authorization_code", "client_credentials", "jwt_bearer", "saml2_bearer"], ChoiceLabels(
        authorization_code="Authorization code (a person gives consent)", client_credentials="Client credentials (no consent)",
        jwt_bearer="JWT bearer (a service account's key signs in; no consent)",
        saml2_bearer="SAML 2.0 bearer (a signed SAML assertion; no consent)")] = "authorization_code"
    authorize_url: Url | None = None
    token_url: Annotated[Url, Field(title="Access token URL")]
    refresh_url: Annotated[Url | None, Field(title="Refresh token URL", description="Defaults to token_url.")] = None
    revoke_url: Annotated[Url | None, Field(title="Revoke token URL",
                                            description="RFC 7009 revocation endpoint, called on revoke and delete.")] = None
    scope_delimiter: Literal[" ", ",", "+", ";"] = " "
    pkce: Annotated[StrictBool, Field(title="Use PKCE (S256)")] = True
    token_prefix: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$", description="A single word such as Bearer.")] = "Bearer"
    token_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,100}$", description="Header the token travels in (param_type header).")] = "Authorization"
    token_template: Annotated[TokenTemplate, Field(description="What travels in token_header.")] = "{token_prefix} {access_token}"
    token_param: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,100}$", description="Query or form name of the token (param_type query/form).")] = "access_token"
    token_endpoint_auth_method: Annotated[Literal["client_secret_post", "client_secret_basic", "private_key_jwt"], ChoiceLabels(
        client_secret_post="Client secret in the request body (client_secret_post)",
        client_secret_basic="Client secret in a Basic header (client_secret_basic)",
        private_key_jwt="A JWT signed with the client's private key (private_key_jwt)")] = "client_secret_post"
    authorize_params: StringMap = {}
    client_id: ClientId | None = None
    client_secret: Annotated[ClientSecret | None, SECRET_FIELD] = None
    client_private_key: Annotated[PrivateKeyPem | None, SECRET_FIELD] = None
    client_key_id: Annotated[str | None, StringConstraints(max_length=200, pattern=r"^\S+$")] = None
    assertion_audience: Annotated[Url | None, Field(description="aud of JWTs (Audience of SAML assertions) we sign; defaults to token_url.")] = None
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
