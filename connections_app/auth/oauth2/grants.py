"""The OAuth 2.0 protocol steps, each one token-endpoint call by Authlib: the authorize URL
(PKCE S256), the code exchange, refresh, the grants that need no consent (client
credentials; JWT bearer, RFC 7523; SAML 2.0 bearer, RFC 7522) and RFC 7009 revocation."""

from __future__ import annotations

from urllib.parse import urlencode

import requests
from authlib.common.security import generate_token

from services_catalog.fields import PLACEHOLDER_RE

from ...errors import ConnectionsError
from ..token_calls import ConsentStart, RefreshFailed
from . import saml_bearer
from .answers import call_token_endpoint
from .client_auth import NoClientAuth, has_client, token_session
from .config import OAuth2Config
from .jwt_bearer import JWT_BEARER_GRANT, assertion


def authorization(config: OAuth2Config, *, state: str, redirect_uri: str, scope_params: dict[str, str]) -> ConsentStart:
    """The authorize URL, and what the callback needs back (the PKCE verifier)."""
    verifier = generate_token(64) if config.pkce else None
    session = token_session(config, redirect_uri=config.sent_redirect_uri(redirect_uri), code_challenge_method="S256" if config.pkce else None)
    extra = dict(config.authorize_params)
    extra.update(scope_params)
    url, _ = session.create_authorization_url(config.authorize_url, state=state, code_verifier=verifier, **extra)
    return ConsentStart(url=url, secrets={"code_verifier": verifier} if verifier else {"pkce": False}, state_key=state)


def exchange_code(config: OAuth2Config, *, code: str, code_verifier: str | None, redirect_uri: str) -> dict:
    session = token_session(config, redirect_uri=config.sent_redirect_uri(redirect_uri))
    return call_token_endpoint(
        session.fetch_token, config.token_url, grant_type="authorization_code", code=code,
        code_verifier=code_verifier, token_path=config.token_path, **token_params(config),
    )


def refresh(config: OAuth2Config, refresh_token: str | None) -> dict:
    if not refresh_token:
        raise RefreshFailed("The provider gave no refresh token; reconnect to get a new access token.", terminal=True)
    session = token_session(config, refreshing=True)
    return call_token_endpoint(
        session.refresh_token, config.refresh_url, refresh_token=refresh_token, token_path=config.token_path, **token_params(config),
    )


def own_token(config: OAuth2Config, *, scope: str | None, credentials: dict) -> dict:
    """Ask the token endpoint for a token without consent: ``client_credentials``, or
    ``jwt_bearer`` / ``saml2_bearer`` with a fresh assertion signed by the connection's key."""
    if config.grant_type == "saml2_bearer":
        return _saml2_bearer_token(config, scope=scope, credentials=credentials)
    if config.grant_type != "jwt_bearer":
        session = token_session(config, scope=scope)
        return call_token_endpoint(session.fetch_token, config.token_url, grant_type="client_credentials", **token_params(config))
    try:
        signed = assertion(config, credentials, scope)
    except ValueError as exc:
        raise RefreshFailed(str(exc), terminal=True) from None
    session = token_session(config, scope=scope if config.assertion_scope == "form" else None)
    extra = {} if has_client(config) else {"auth": NoClientAuth()}
    return call_token_endpoint(
        session.fetch_token, config.token_url, grant_type=JWT_BEARER_GRANT, assertion=signed, **extra, **token_params(config),
    )


def token_params(config: OAuth2Config) -> dict[str, str]:
    """The entry's ``token_params`` (filled from the connection's config by ``with_config``)
    as Authlib's ``body``, to which it adds the grant's own parameters: passed as keywords,
    a name such as ``auth`` or ``timeout`` would be taken for one of Authlib's arguments. One
    whose config value is missing refuses the request (terminal: an admin must give it)."""
    for name, value in config.token_params.items():
        missing = PLACEHOLDER_RE.findall(value)
        if missing:
            raise RefreshFailed(f"The token parameter {name} needs the connection's config value {missing[0]}.", terminal=True)
    return {"body": urlencode(config.token_params)} if config.token_params else {}


def _saml2_bearer_token(config: OAuth2Config, *, scope: str | None, credentials: dict) -> dict:
    """RFC 7522: a fresh SAML 2.0 assertion; the client names itself in the body."""
    try:
        signed = saml_bearer.assertion(config, credentials)
    except (ValueError, KeyError) as exc:
        raise RefreshFailed(str(exc) if isinstance(exc, ValueError) else "The connection's key is incomplete.", terminal=True) from None
    session = token_session(config, scope=scope)
    fields = saml_bearer.token_request_fields(credentials)
    if has_client(config):  # the organisation's client authenticates, and names itself
        fields.pop("client_id")
    else:
        fields["auth"] = NoClientAuth()
    return call_token_endpoint(session.fetch_token, config.token_url, grant_type=saml_bearer.SAML2_BEARER_GRANT,
                               assertion=signed, **fields, **token_params(config))


def revoke(config: OAuth2Config, credentials: dict) -> list[str]:
    """Revoke the refresh and the access token; return what went wrong (nothing secret)."""
    session = token_session(config)
    problems = []
    for hint in ("refresh_token", "access_token"):
        value = credentials.get(hint)
        if not value:
            continue
        try:
            response = session.revoke_token(config.revoke_url, token=value, token_type_hint=hint)
            if response.status_code >= 400:
                problems.append(f"answered HTTP {response.status_code}")
        except (ConnectionsError, requests.exceptions.RequestException, ValueError) as exc:
            problems.append(f"failed: {type(exc).__name__}")
    return problems
