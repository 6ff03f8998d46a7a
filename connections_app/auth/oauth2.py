"""OAuth 2.0: the service's ``oauth2`` block, and how its access token travels.

The token travels as ``Authorization: <token_prefix> <token>`` or as ``access_token=`` in
the query string or form body. Getting and refreshing tokens is the job of ``oauth_flow``
and ``tokens``; this type only declares the block and applies the token.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from services_catalog.fields import SECRET_FIELD, ClientId, ClientSecret, FieldError, Shape, StringMap, Url

from .base import CONSENT, FETCHED, AuthType, ParameterInjector, encodings_of

# Parameters the consent flow sets itself; a service may not override them.
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}
)


class OAuth2Config(Shape):
    grant_type: Literal["authorization_code", "client_credentials"] = "authorization_code"
    authorize_url: Url | None = None
    token_url: Url
    refresh_url: Annotated[Url | None, Field(description="Defaults to token_url.")] = None
    revoke_url: Annotated[Url | None, Field(description="RFC 7009 revocation endpoint, called on revoke and delete.")] = None
    scope_delimiter: Literal[" ", ",", "+", ";"] = " "
    pkce: StrictBool = True
    token_prefix: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$", description="A single word such as Bearer.")] = "Bearer"
    token_endpoint_auth_method: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"
    authorize_params: StringMap = {}
    client_id: ClientId | None = None
    client_secret: Annotated[ClientSecret | None, SECRET_FIELD] = None

    @model_validator(mode="after")
    def _consistent(self) -> "OAuth2Config":
        if self.grant_type == "authorization_code" and not self.authorize_url:
            raise FieldError("authorize_url", "This field is required.")
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

    @property
    def connects_by(self) -> str:
        return FETCHED if self.service.oauth2.grant_type == "client_credentials" else CONSENT

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
