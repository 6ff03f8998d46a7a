"""The service definition's ``oauth2`` block (``OAuth2Config``) and the value types it uses."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StringConstraints, model_validator

from services_catalog.fields import (
    FORBIDDEN_DEFAULT_HEADERS, SECRET_FIELD, TEMPLATED, ChoiceLabels, ClientId, ClientSecret, FieldError, OneLine, Published, Shape,
    URL_PATTERN, URL_RE, StringMap, TokenTemplate, Url,
)

from ...errors import ValidationFailed

KEY_MAX_CHARS = 16384
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")


def clean_key_values(values, *, known: tuple[str, ...], multiline: set[str], one_line_max: int | None = None,
                     ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The credential values a signing-key connection (JWT or SAML bearer) gives: each a
    known name, a string of at most ``KEY_MAX_CHARS`` without NUL, one line unless its
    field takes several; empty ones left out. (cleaned, errors by ``credentials.<name>``)."""
    if not isinstance(values, dict):
        raise ValidationFailed.field("credentials", "Must be an object of credential values.")
    one_line = "Must be one line." if one_line_max is None else f"Must be one line of at most {one_line_max} characters."
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for key, value in values.items():
        if key not in known:
            errors[f"credentials.{key}"] = [f"Unknown credential; expected {', '.join(known)}."]
        elif value in (None, ""):
            continue
        elif not isinstance(value, str) or len(value) > KEY_MAX_CHARS or "\0" in value:
            errors[f"credentials.{key}"] = [f"Must be a string of at most {KEY_MAX_CHARS} characters."]
        elif key not in multiline and (any(c in value for c in "\r\n") or (one_line_max is not None and len(value) > one_line_max)):
            errors[f"credentials.{key}"] = [one_line]
        else:
            cleaned[key] = value.strip()
    return cleaned, errors


def _pem(value: str) -> str:
    if "\0" in value or "-----BEGIN" not in value or "PRIVATE KEY-----" not in value:
        raise ValueError("Must be a PEM private key (-----BEGIN ... PRIVATE KEY-----).")
    return value


# eBay's RuName ("eBay Redirect URL name"): a name, not a URL, that the provider maps to the
# accept URL its owner registered (set to the product's callback).
REDIRECT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,199}$"
RedirectName = Annotated[str, StringConstraints(pattern=REDIRECT_NAME_PATTERN)]

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


# What the token requests set themselves (RFC 6749, 7523, 7636); token_params may not.
RESERVED_TOKEN_PARAMS = frozenset({
    "grant_type", "client_id", "client_secret", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
    "assertion", "client_assertion", "client_assertion_type", "username", "password", "token", "token_type_hint",
})
TOKEN_PARAM_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,99}"


def _token_param_name(value: str) -> str:
    # Checked by a validator, not a pattern: OpenAPI 3.0 has no patternProperties.
    if not re.fullmatch(TOKEN_PARAM_NAME, value):
        raise ValueError(f"{value!r} is not a parameter name (a letter, then letters, digits, '_', '.', '-').")
    return value


# A header sent on every call beside the token, made from the organisation's client (Etsy's
# x-api-key: "{client_id}:{client_secret}"): its name, and a one-line value whose only
# placeholders are those two.
CLIENT_HEADER_NAME = r"[A-Za-z0-9-]{1,100}"
# (A first item, then the rest: schemathesis folds a maxLength into a lone "(...)+" and then
# cannot read the pattern it made.)
_CLIENT_HEADER_ITEM = r"(?:[^\r\n\x00{}]|[{]client_id[}]|[{]client_secret[}])"
CLIENT_HEADER_PATTERN = rf"^{_CLIENT_HEADER_ITEM}{_CLIENT_HEADER_ITEM}*$"


def _client_header_name(value: str) -> str:
    if not re.fullmatch(CLIENT_HEADER_NAME, value):
        raise ValueError(f"{value!r} is not a header name (letters, digits and '-').")
    return value


def _client_header_value(value: str) -> str:
    if not re.fullmatch(CLIENT_HEADER_PATTERN, value):
        raise ValueError("Must be one line whose only placeholders are {client_id} and {client_secret}.")
    return value


ClientHeaders = dict[
    Annotated[str, AfterValidator(_client_header_name)],
    Annotated[str, StringConstraints(max_length=500), AfterValidator(_client_header_value), Published(CLIENT_HEADER_PATTERN)],
]

# RFC 7519's StringOrURI (and SAML's Audience): an absolute URL, or a bare name such as SAP
# SuccessFactors' www.successfactors.com. Anything with a scheme must be a whole http(s) URL.
_BARE_AUDIENCE = r"[A-Za-z0-9][A-Za-z0-9._~-]{0,252}"
AUDIENCE_PATTERN = rf"^(?:{_BARE_AUDIENCE}|{URL_PATTERN[1:-1]})$"


def _audience(value: str) -> str:
    if re.fullmatch(_BARE_AUDIENCE, value) or URL_RE.fullmatch(value):
        return value
    raise ValueError("Must be an absolute http(s) URL or a bare name such as www.example.com.")


Audience = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_audience), Published(AUDIENCE_PATTERN), TEMPLATED]

# Values may hold {placeholders} filled from the connection's config (Greenhouse: "{user_id}").
TokenParams = dict[Annotated[str, AfterValidator(_token_param_name)], Annotated[OneLine, TEMPLATED]]


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
    client_headers: Annotated[ClientHeaders, Field(description="Headers sent on every call beside the token, made from the "
                                                               "organisation's client (Etsy: x-api-key: \"{client_id}:{client_secret}\"); "
                                                               "the secret is read only for the call and scrubbed from answers.")] = {}
    token_endpoint_auth_method: Annotated[
        Literal["client_secret_post", "client_secret_basic", "private_key_jwt", "none", "client_secret_query"],
        ChoiceLabels(
            client_secret_post="Client secret in the request body (client_secret_post)",
            client_secret_basic="Client secret in a Basic header (client_secret_basic)",
            private_key_jwt="A JWT signed with the client's private key (private_key_jwt)",
            none="Client ID alone, a public client with PKCE (none)",
            client_secret_query="Client ID and secret in the token URL's query (client_secret_query)",
        ),
        Field(description="none: client_id alone in the token request body (a public client with PKCE: Etsy); "
                          "client_secret_query: client_id and client_secret in the token URL's query (Marketo)."),
    ] = "client_secret_post"
    refresh_endpoint_auth_method: Annotated[
        Literal["client_secret_post", "client_secret_basic"] | None,
        Field(title="Client authentication on refresh",
              description="When the refresh grant wants another method than the code exchange (Keap's own library "
                          "exchanges the code with the secret in the body and refreshes with HTTP Basic); defaults "
                          "to token_endpoint_auth_method."),
    ] = None
    token_request_format: Annotated[Literal["form", "json"], ChoiceLabels(
        form="Form-encoded (application/x-www-form-urlencoded)", json="A JSON object (application/json)"), Field(
        description="How the token requests (code exchange, refresh, client credentials) carry their parameters: "
                    "form-encoded as RFC 6749 says, or as one JSON object for a provider whose token endpoint reads "
                    "only JSON. Revocation stays form-encoded (RFC 7009).")] = "form"
    authorize_params: StringMap = {}
    token_params: Annotated[TokenParams, Field(description="Sent in the body of every token request of the grant; "
                                                           "{placeholders} from the connection's config (Greenhouse: sub: \"{user_id}\").")] = {}
    uses_redirect_name: Annotated[StrictBool, Field(
        title="Send a redirect URI name", description="eBay: the client's redirect_name (RuName) travels as redirect_uri "
        "on the authorize and token requests instead of the callback URL; the provider then sends the browser to the "
        "accept URL registered for that name, which must be the callback URL.")] = False
    redirect_name: Annotated[RedirectName | None, Field(
        title="Redirect URI name (RuName)", description="Part of the client (like client_id): eBay's RuName for this app.")] = None
    client_id: ClientId | None = None
    client_secret: Annotated[ClientSecret | None, SECRET_FIELD] = None
    client_private_key: Annotated[PrivateKeyPem | None, SECRET_FIELD] = None
    client_key_id: Annotated[str | None, StringConstraints(max_length=200, pattern=r"^\S+$")] = None
    assertion_audience: Annotated[Audience | None, Field(description="aud of JWTs (Audience of SAML assertions) we sign; defaults to token_url. "
                                                          "A URL or a bare name (SAP SuccessFactors: www.successfactors.com).")] = None
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
        if (self.uses_redirect_name or self.redirect_name) and self.grant_type != "authorization_code":
            raise FieldError("uses_redirect_name", "Only an authorization_code grant sends a redirect URI.")
        if self.redirect_name and not self.uses_redirect_name:
            raise FieldError("uses_redirect_name", "Set it to send redirect_name.")
        if self.keep_from_callback and self.grant_type != "authorization_code":
            raise FieldError("keep_from_callback", "Only an authorization_code grant has a callback.")
        names = [kept_name(p) for p in (*self.keep_from_token_response, *self.keep_from_callback)]
        if len(set(names)) != len(names):
            raise FieldError("keep_from_token_response", "Two kept values have the same name.")
        reserved = sorted(RESERVED_AUTHORIZE_PARAMS & set(self.authorize_params))
        if reserved:
            raise FieldError("authorize_params", f"May not set {', '.join(reserved)}.")
        taken = {*FORBIDDEN_DEFAULT_HEADERS, self.token_header.lower()}
        clashing = sorted(name for name in self.client_headers if name.lower() in taken)
        if clashing:
            raise FieldError("client_headers", f"{', '.join(clashing)} cannot be a client header.")
        reserved = sorted(RESERVED_TOKEN_PARAMS & {name.lower() for name in self.token_params})
        if reserved:
            raise FieldError("token_params", f"May not set {', '.join(reserved)}.")
        if self.refresh_endpoint_auth_method and (
                self.grant_type != "authorization_code"
                or self.token_endpoint_auth_method not in ("client_secret_post", "client_secret_basic")):
            raise FieldError("refresh_endpoint_auth_method",
                             "Only an authorization_code grant whose client sends a secret (client_secret_post or "
                             "client_secret_basic) may refresh with another method.")
        if self.token_request_format == "json" and self.grant_type not in ("authorization_code", "client_credentials"):
            raise FieldError("token_request_format", "Only the authorization_code and client_credentials grants send a JSON body.")
        if self.token_request_format == "json" and self.token_endpoint_auth_method == "client_secret_query":
            raise FieldError("token_request_format", "client_secret_query sends every parameter in the query, none in a body.")
        if self.refresh_url is None:
            object.__setattr__(self, "refresh_url", self.token_url)
        return self

    def sent_redirect_uri(self, callback_url: str) -> str:
        """What travels as ``redirect_uri``: the callback URL, or the client's redirect name."""
        return self.redirect_name if self.uses_redirect_name and self.redirect_name else callback_url
