"""How the product's requests to a token endpoint authenticate the organisation's client:
``client_secret_post`` / ``client_secret_basic``, ``private_key_jwt`` (RFC 7523 section
2.2, a JWT signed by the client's key), ``none`` (a public client: its client_id in the
body, Authlib's own method; Etsy), ``client_secret_query`` (the id and secret in the token
URL's query string: Marketo's identity endpoint), or nothing (a JWT bearer request whose
assertion is the only proof); and, for a provider whose token endpoint reads only JSON, the
token requests' parameters as one JSON object (``token_request_format: json``)."""

from __future__ import annotations

import json

import requests
from authlib.common.urls import add_params_to_uri, url_decode
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.auth import ClientAuth
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


def encode_client_secret_query(client, method, uri, headers, body):
    """``client_secret_query``, as an Authlib client auth method: Marketo's identity endpoint
    documents its parameters (grant_type, client_id, client_secret) as query parameters of
    GET and POST /identity/oauth/token only, so the request's form parameters move to the
    query too and the body is left empty."""
    params = [*url_decode(body or ""), ("client_id", client.client_id), ("client_secret", client.client_secret or "")]
    if "Content-Length" in headers:
        headers["Content-Length"] = "0"
    return add_params_to_uri(uri, params), headers, ""


def encode_json_body(encode):
    """``token_request_format: json``, as an Authlib client auth method around the service's
    own (``encode``): that method runs first (the client in the body, a Basic header or a
    signed assertion), then the finished form body travels as one JSON object. Only the
    token endpoint's requests use it; revocation keeps the plain method (RFC 7009)."""

    def encode_json(client, method, uri, headers, body):
        uri, headers, body = encode(client, method, uri, headers, body)
        body = json.dumps(dict(url_decode(body or "")))
        headers["Content-Type"] = "application/json"
        if "Content-Length" in headers:
            headers["Content-Length"] = str(len(body.encode()))
        return uri, headers, body

    return encode_json


def token_session(config: OAuth2Config, *, refreshing: bool = False, **kwargs) -> TokenSession:
    """An Authlib session for the service's token endpoints (``kwargs``: redirect_uri, scope...);
    ``refreshing``: for the refresh grant, which may declare its own client authentication."""
    method = (refreshing and config.refresh_endpoint_auth_method) or config.token_endpoint_auth_method
    secret = config.client_secret
    encode = ClientAuth.DEFAULT_AUTH_METHODS.get(method)
    if method == "private_key_jwt":
        secret, encode = private_key_jwt(config)
    elif method == "client_secret_query":
        encode = encode_client_secret_query
    token_method = f"{method}+json" if config.token_request_format == "json" else method
    session = TokenSession(client_id=config.client_id, client_secret=secret, token_endpoint_auth_method=token_method,
                           revocation_endpoint_auth_method=config.token_endpoint_auth_method, **kwargs)
    session.register_client_auth_method((method, encode))
    if token_method != method:
        session.register_client_auth_method((token_method, encode_json_body(encode)))
    return session


def private_key_jwt(config: OAuth2Config) -> tuple[object, PrivateKeyJWT]:
    """The client's private key, and Authlib's ``PrivateKeyJWT``, which signs a JWT with it
    to authenticate the client."""
    try:
        key = load_private_key(config.client_private_key or "")
    except ValueError as exc:
        raise RefreshFailed(f"The client's private key: {exc}", terminal=True) from None
    headers = {"kid": config.client_key_id} if config.client_key_id else None
    return key, PrivateKeyJWT(headers=headers, alg=config.assertion_algorithm)


def has_client(config: OAuth2Config) -> bool:
    return bool(config.client_id and (config.client_secret or config.client_private_key))
