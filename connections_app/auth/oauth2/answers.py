"""Reading a token endpoint's answer: failures classified, the token checked, what a
connection stores of it, and the values it keeps (Salesforce's instance_url, Slack's team,
the callback's realmId), checked against the service's allowed hosts."""

from __future__ import annotations

import math
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError

from ...errors import UpstreamError, UpstreamTimeout
from ..token_calls import Grant, RefreshFailed
from .config import kept_name
from .jwt_bearer import JWT_CREDENTIAL_KEYS
from .saml_bearer import SAML_CREDENTIAL_KEYS

# Provider answers that mean the grant is dead: only a person can fix it (re-consent).
TERMINAL_ERRORS = {"invalid_grant", "unauthorized_client", "access_denied", "invalid_scope"}
# The provider refused the service's client itself: an admin fixes the client, once, for
# every connection; the connections keep their grants.
CLIENT_ERRORS = {"invalid_client"}
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600  # a longer promise is treated as this long


def call_token_endpoint(fn, *args, token_path: str | None = None, **kwargs) -> dict:
    """Run an Authlib token call; classify every failure; return a checked token dict
    (``token_path``: the answer's object that holds the token to use, e.g. Slack's user token)."""
    try:
        token = token_at_path(fn(*args, **kwargs), token_path)
    except OAuthError as exc:
        error = (exc.error or "error")[:60]
        if error in CLIENT_ERRORS:
            raise RefreshFailed(
                f"The provider refused this service's OAuth client ({error}); an admin must set its client secret again.",
                terminal=False, client_refused=True,
            ) from None
        terminal = error in TERMINAL_ERRORS
        raise RefreshFailed(f"The provider refused the token request ({error}).", terminal=terminal) from None
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        raise RefreshFailed(f"The token endpoint answered HTTP {status}.", terminal=False) from None
    except (UpstreamError, UpstreamTimeout) as exc:
        raise RefreshFailed(exc.message, terminal=False) from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        # Authlib parses the answer (JSON, expires_in): whatever an answer holds, it is a
        # failure to record and show, never a server error.
        raise RefreshFailed("The token endpoint's answer is not a usable JSON token.", terminal=False) from None
    access_token = token.get("access_token") if isinstance(token, dict) else None
    if not isinstance(access_token, str) or not access_token or len(access_token) > 8192:
        raise RefreshFailed("The token endpoint's answer has no usable access_token.", terminal=False)
    refresh_token = token.get("refresh_token")
    if refresh_token is not None and (not isinstance(refresh_token, str) or len(refresh_token) > 8192):
        raise RefreshFailed("The token endpoint's answer has an unusable refresh_token.", terminal=False)
    return dict(token)


def token_at_path(token, path: str | None):
    """The token answer with the object at ``path`` (access token, refresh token, expiry,
    scope) taken in place of the top-level ones, when that object carries an access token;
    the other top-level members (team, ...) stay for the kept values."""
    nested = token.get(path) if path and isinstance(token, dict) else None
    if isinstance(nested, dict) and nested.get("access_token"):
        return {**token, **nested}
    return token


def expires_in_seconds(value) -> int | None:
    """``expires_in`` as whole seconds, or None when it is missing or unusable (a string
    that is no number, NaN, infinite, negative, a boolean); a huge one is capped."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return int(min(seconds, MAX_EXPIRES_IN))


def credentials_from_token(token: dict, previous: dict | None = None) -> dict:
    """Keep what we need of a token answer; keep the old refresh token if none came back."""
    refresh_token = token.get("refresh_token") or (previous or {}).get("refresh_token")
    creds = {"access_token": token["access_token"], "token_type": str(token.get("token_type") or "Bearer")[:40]}
    if isinstance(refresh_token, str) and refresh_token:
        creds["refresh_token"] = refresh_token
    scope = token.get("scope")
    if isinstance(scope, str):
        creds["scope"] = scope[:2000]
    creds.update(kept_key_material(previous))
    return creds


def grant_from(token: dict, *, previous: dict | None = None, kept: dict | None = None) -> Grant:
    """The grant a checked token answer makes (``previous``: the credentials it replaces)."""
    return Grant(credentials=credentials_from_token(token, previous), expires_in=expires_in_seconds(token.get("expires_in")),
                 kept=kept or {})


def kept_key_material(previous: dict | None) -> dict:
    """The key a JWT or SAML bearer connection gave: kept beside every new token."""
    keys = (*JWT_CREDENTIAL_KEYS, *SAML_CREDENTIAL_KEYS)
    return {k: v for k, v in (previous or {}).items() if k in keys and isinstance(v, str)}


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def kept_values(service, *, config: dict, token: dict | None = None, callback: dict | None = None) -> dict:
    """The values the service keeps from the token answer and the callback's query, checked
    (``ServiceDefinition.kept_values_error``): refused with ``RefreshFailed`` otherwise."""
    oauth2 = service.oauth2
    sources = [(p, token or {}) for p in oauth2.keep_from_token_response]
    sources += [(p, callback or {}) for p in oauth2.keep_from_callback]
    kept = {}
    for path, source in sources:
        value = _lookup(source, path)
        kept[kept_name(path)] = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if not kept:
        return {}
    error = service.kept_values_error(config, kept)
    if error:
        raise RefreshFailed(error, terminal=True)
    return {name: value.rstrip("/") for name, value in kept.items()}
