"""How the product's requests to a token endpoint authenticate the organisation's client:
``client_secret_post`` / ``client_secret_basic``, ``private_key_jwt`` (RFC 7523 section
2.2, a JWT signed by the client's key), ``none`` (a public client: its client_id in the
body, Authlib's own method; Etsy), or nothing (a JWT bearer request whose assertion is the
only proof)."""

from __future__ import annotations

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from ..token_calls import GuardedSessionMixin, RefreshFailed
from .config import OAuth2Config
from .jwt_bearer import load_private_key


class TokenSession(GuardedSessionMixin, OAuth2Session):
    pass


class NoClientAuth(requests.auth.AuthBase):
    """A JWT bearer request without an OAuth client: the assertion is the only proof."""

    def __call__(self, request):
        return request


def token_session(config: OAuth2Config, **kwargs) -> TokenSession:
    """An Authlib session for the service's token endpoints (``kwargs``: redirect_uri, scope...)."""
    if config.token_endpoint_auth_method == "private_key_jwt":
        return private_key_jwt_session(config, **kwargs)
    return TokenSession(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method=config.token_endpoint_auth_method,
        revocation_endpoint_auth_method=config.token_endpoint_auth_method,
        **kwargs,
    )


def private_key_jwt_session(config: OAuth2Config, **kwargs) -> TokenSession:
    """A session that authenticates the client with a JWT signed by its private key, by
    Authlib's ``PrivateKeyJWT``."""
    try:
        key = load_private_key(config.client_private_key or "")
    except ValueError as exc:
        raise RefreshFailed(f"The client's private key: {exc}", terminal=True) from None
    session = TokenSession(
        client_id=config.client_id, client_secret=key, token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt", **kwargs,
    )
    headers = {"kid": config.client_key_id} if config.client_key_id else None
    session.register_client_auth_method(PrivateKeyJWT(headers=headers, alg=config.assertion_algorithm))
    return session


def has_client(config: OAuth2Config) -> bool:
    return bool(config.client_id and (config.client_secret or config.client_private_key))
