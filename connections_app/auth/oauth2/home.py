"""OAuth 2.0: the service's ``oauth2`` block, its grants, and how its access token travels.

The token travels in ``token_header`` (default ``Authorization``) as ``token_template``
(default ``{token_prefix} {access_token}``), or under ``token_param`` (default
``access_token``) in the query string or form body. The protocol steps are ``grants``
(Authlib over the guarded transport); ``tokens`` and ``oauth_flow`` call them through this
type and store what they give.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from services_catalog.fields import FieldError

from ..base import CONSENT, FETCHED, AuthType, ParameterInjector, encodings_of
from ..token_calls import ConsentFailed, ConsentStart, Grant, RefreshFailed
from . import grants, jwt_bearer, saml_bearer
from .answers import grant_from, kept_values
from .config import RESERVED_AUTHORIZE_PARAMS, OAuth2Config, kept_name


ASSERTION_GRANTS = ("jwt_bearer", "saml2_bearer")  # no consent: the connection's own key


class OAuth2(AuthType):
    name = "oauth2"
    label = "OAuth 2"
    section = "oauth2"
    asks_scopes = True
    section_model = OAuth2Config
    client_fields = ("client_id", "client_secret")
    callback_path = "/oauth/callback"
    state_param = "state"

    @classmethod
    def check_service(cls, service) -> None:
        super().check_service(service)
        # A provider's value may move a URL only inside hosts the entry names itself.
        kept = set(cls.provided_names(service))
        for host in service.allowed_hosts:
            if kept & set(re.findall(r"\{([a-z][a-z0-9_]*)\}", host)):
                raise FieldError("allowed_hosts", "A value kept from the provider cannot name an allowed host; list the hosts it may be.")

        if service.oauth2.client_headers and service.param_type != "header":
            raise FieldError("oauth2.client_headers", "Client headers need param_type header.")
        for i, scope in enumerate(service.scopes):
            if scope.param != "scope" and scope.param in RESERVED_AUTHORIZE_PARAMS | set(service.oauth2.authorize_params):
                raise FieldError(f"scopes[{i}].param", f"{scope.param} is set by the consent flow or authorize_params.")

    @classmethod
    def templated_values(cls, service) -> list[tuple[str, str]]:
        return [(f"oauth2.token_params.{name}", value) for name, value in service.oauth2.token_params.items()]

    @classmethod
    def provided_names(cls, service) -> tuple[str, ...]:
        config = service.oauth2
        return tuple(kept_name(p) for p in (*config.keep_from_token_response, *config.keep_from_callback)) if config else ()

    @property
    def connects_by(self) -> str:
        return FETCHED if self.service.oauth2.grant_type in ("client_credentials", *ASSERTION_GRANTS) else CONSENT

    def client_field_names(self) -> tuple[str, str]:
        if self.service.oauth2.token_endpoint_auth_method == "private_key_jwt":
            return ("client_id", "client_private_key")
        return ("client_id", "client_secret")

    @property
    def client_per_call(self) -> bool:
        return bool(self.service.oauth2.client_headers)

    def client_extra_names(self) -> tuple[str, ...]:
        return ("redirect_name",) if self.service.oauth2.uses_redirect_name else ()

    def client_configured(self) -> bool:
        block = self.service.oauth2
        return super().client_configured() and all(getattr(block, name) for name in self.client_extra_names())

    @property
    def client_optional(self) -> bool:
        # A JWT or SAML bearer connection proves itself with its own key; a client is optional.
        return self.service.oauth2.grant_type in ASSERTION_GRANTS

    def scope_params(self, scopes: list[str]) -> dict[str, str]:
        """The chosen scopes by the authorize parameter they go under (``scope``, Slack's
        ``user_scope``), each joined with the service's delimiter."""
        params = {s.name: s.param for s in self.service.scopes}
        grouped: dict[str, list[str]] = {}
        for name in scopes:
            grouped.setdefault(params.get(name, "scope"), []).append(name)
        return {param: self.service.oauth2.scope_delimiter.join(names) for param, names in grouped.items()}

    # -- the JWT and SAML bearer grants: the key a connection gives ------------------------
    def credential_fields(self):
        grant = self.service.oauth2.grant_type
        return jwt_bearer.JWT_FIELDS if grant == "jwt_bearer" else saml_bearer.SAML_FIELDS if grant == "saml2_bearer" else ()

    def validate_credentials(self, values, *, partial: bool = False) -> dict[str, str]:
        grant = self.service.oauth2.grant_type
        if grant == "saml2_bearer":
            return saml_bearer.validate_key(values)
        if grant != "jwt_bearer":
            return super().validate_credentials(values, partial=partial)
        return jwt_bearer.validate_key(self.service.oauth2, values)

    # -- tokens from the provider ----------------------------------------------------------
    def start_consent(self, *, scopes: list[str], state: str, redirect_uri: str) -> ConsentStart:
        return grants.authorization(
            self.service.oauth2, state=state, redirect_uri=redirect_uri, scope_params=self.scope_params(scopes) if scopes else {},
        )

    def finish_consent(self, *, params: dict, secrets: dict, redirect_uri: str, config: dict) -> Grant:
        """Check the callback (error, issuer, code), exchange the code, keep the values the
        service names (instance_url, realmId) once checked against its allowed hosts."""
        oauth2 = self.service.oauth2
        error = params.get("error")
        if error:
            description = (params.get("error_description") or "").strip()[:300]
            message = f"The provider answered {error[:60]}" + (f": {description}" if description else ".")
            raise ConsentFailed("Consent was not given", message)
        issuer = params.get("iss")
        if issuer and not _same_origin(issuer, oauth2.authorize_url):
            raise ConsentFailed("Wrong issuer", "The answer came from another authorization server and was refused.",
                                recorded="The provider's answer names another issuer (iss); it was refused.")
        code = params.get("code")
        if not code:
            raise ConsentFailed("No code", "The provider's answer has no authorization code. Start again.",
                                recorded="The provider's answer has no authorization code.")
        try:
            token = grants.exchange_code(oauth2, code=code, code_verifier=secrets.get("code_verifier"), redirect_uri=redirect_uri)
        except RefreshFailed as exc:
            raise ConsentFailed("Token exchange failed", f"The token exchange failed: {exc.message}") from None
        try:
            kept = kept_values(self.service, config=config, token=token, callback=params)
        except RefreshFailed as exc:
            raise ConsentFailed("Answer refused", f"The provider's answer was refused: {exc.message}") from None
        return grant_from(token, kept=kept)

    def can_renew(self, credentials: dict) -> bool:
        return bool(credentials.get("refresh_token")) or self.connects_by == FETCHED

    def renewed_token(self, *, credentials: dict, scopes: list[str]) -> Grant:
        if self.connects_by == FETCHED:
            token = grants.own_token(self.service.oauth2, scope=self._scope_string(scopes), credentials=credentials)
        else:
            token = grants.refresh(self.service.oauth2, credentials.get("refresh_token"))
        return grant_from(token, previous=credentials)

    def fetch_own_token(self, *, credentials: dict, scopes: list[str], config: dict) -> Grant:
        token = grants.own_token(self.service.oauth2, scope=self._scope_string(scopes), credentials=credentials)
        return grant_from(token, previous=credentials, kept=kept_values(self.service, config=config, token=token))

    def revoke(self, credentials: dict) -> list[str]:
        return grants.revoke(self.service.oauth2, credentials)

    def _scope_string(self, scopes: list[str]) -> str | None:
        return self.service.oauth2.scope_delimiter.join(scopes) if scopes else None

    # -- use ------------------------------------------------------------------------------
    def build_auth(self, credentials: dict) -> ParameterInjector:
        config = self.service.oauth2
        token = credentials["access_token"]
        if self.service.param_type == "header":
            value = config.token_template.replace("{token_prefix}", config.token_prefix).replace("{access_token}", token)
            return ParameterInjector("header", {**self._client_headers(), config.token_header: value})
        return ParameterInjector(self.service.param_type, {config.token_param: token})

    def _client_headers(self) -> dict[str, str]:
        """The entry's client headers with the organisation's client filled in (Etsy's
        x-api-key); the service carries the client only when invoke read it for this call."""
        config = self.service.oauth2
        if not config.client_headers:
            return {}
        if not (config.client_id and config.client_secret):
            raise RefreshFailed("This service sends its OAuth client with every call; an admin must set the client.", terminal=False)
        return {name: value.replace("{client_id}", config.client_id).replace("{client_secret}", config.client_secret)
                for name, value in config.client_headers.items()}

    def injected_names(self) -> set[str]:
        config = self.service.oauth2
        if self.service.param_type != "header":
            return {config.token_param.lower()}
        return {config.token_header.lower(), *(name.lower() for name in config.client_headers)}

    def hint(self, credentials: dict) -> str:
        return ""

    def credential_hints(self, credentials: dict) -> list[tuple[str, str]]:
        grant = self.service.oauth2.grant_type
        if grant == "saml2_bearer":
            return saml_bearer.key_hints(credentials)
        if grant != "jwt_bearer":
            return super().credential_hints(credentials)
        return jwt_bearer.key_hints(credentials)

    def secret_values(self, credentials: dict) -> list[str]:
        values = [credentials.get(k, "") for k in ("access_token", "refresh_token", "private_key")]
        config = self.service.oauth2
        if config.client_headers and config.client_id and config.client_secret:  # the secret travels: scrub its echoes
            values += [config.client_secret, *self._client_headers().values()]
        return encodings_of(values)

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials.get("access_token"))


def _same_origin(a: str, b: str | None) -> bool:
    if not b:
        return False
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, (pa.hostname or "").lower(), pa.port) == (pb.scheme, (pb.hostname or "").lower(), pb.port)
