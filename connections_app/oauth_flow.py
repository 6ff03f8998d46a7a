"""The consent dance: start it from a one-time authorize link, finish it at the callback.

``state`` is 256 random bits, stored only as a hash, single-use, bound to the browser that
started the flow (a random cookie, also stored as a hash) and valid for 10 minutes. It is
checked, and consumed, before the token endpoint is called. Authlib builds the authorize
URLs (PKCE S256 for OAuth 2.0) and speaks to the token endpoints.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from services_catalog.schema import ServiceDefinition

from . import hot_cache, selectors, tokens
from .errors import ConnectionsError
from .models import AuthorizeLink, Connection, ConnectionStatus, OAuthState, sha256_hex
from .auth import strategy_for
from .events import event_record

BROWSER_COOKIE = "cnx_oauth_browser"
OAUTH2_CALLBACK_PATH = "/oauth/callback"
OAUTH1_CALLBACK_PATH = "/oauth1/callback"


class FlowError(Exception):
    """Consent could not start or finish; ``message`` is safe to show a person."""

    def __init__(self, title: str, message: str, *, connection: Connection | None = None):
        super().__init__(message)
        self.title = title
        self.message = message
        self.connection = connection


@dataclass
class Started:
    redirect_url: str
    browser_token: str  # the cookie value to set (the same one if the browser had it)


def redirect_uri(flow: str) -> str:
    path = OAUTH1_CALLBACK_PATH if flow == "oauth1" else OAUTH2_CALLBACK_PATH
    return settings.CONNECTIONS_BASE_URL + path


# -- start -------------------------------------------------------------------------------
@dataclass
class LinkPreview:
    """What the Continue page shows about a one-time link (nothing secret)."""

    service_name: str
    organisation_name: str
    connection_name: str


def _usable_link(link_token: str, now) -> AuthorizeLink:
    link = AuthorizeLink.objects.select_related("connection__organisation", "connection__custom_service").filter(
        token_hash=sha256_hex(link_token or "")
    ).first()
    if link is None:
        raise FlowError("Link not valid", "This authorize link is unknown. Ask for a new one (Reconnect).")
    if link.used_at is not None:
        raise FlowError("Link already used", "This authorize link was already used. Ask for a new one (Reconnect).")
    if link.expires_at <= now:
        raise FlowError("Link expired", "This authorize link has expired (links last 30 minutes). Ask for a new one.")
    return link


def link_preview(*, link_token: str) -> LinkPreview:
    """Check a one-time link without using it up (a GET, a HEAD, a link-preview bot)."""
    link = _usable_link(link_token, timezone.now())
    connection = link.connection
    service = selectors.connection_service(connection)
    return LinkPreview(service_name=service.name, organisation_name=connection.organisation.name, connection_name=connection.name)


def start(*, link_token: str, browser_token: str | None) -> Started:
    """Consume a one-time authorize link and return where to send the browser (the person
    pressed Continue: a POST)."""
    now = timezone.now()
    link = _usable_link(link_token, now)
    # Single use even under concurrency: only one request can flip used_at.
    if AuthorizeLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now) != 1:
        raise FlowError("Link already used", "This authorize link was already used. Ask for a new one (Reconnect).")
    connection = link.connection
    service = selectors.connection_service(connection, with_secrets=True)
    if not service.is_oauth:
        raise FlowError("Not an OAuth connection", "This connection does not use consent.", connection=connection)
    browser_token = browser_token or secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    try:
        if service.oauth2:
            url, secret_values = _start_oauth2(service, link.scopes, state)
            flow, state_key = "oauth2", state
        else:
            url, secret_values, request_token = _start_oauth1(service)
            flow, state_key = "oauth1", request_token
    except ConnectionsError as exc:
        _set_error(connection, f"Consent could not start: {exc.message}")
        raise FlowError("Could not reach the provider", f"Consent could not start: {exc.message}", connection=connection) from None
    record = OAuthState(
        connection=connection, organisation_id=connection.organisation_id, state_hash=sha256_hex(state_key),
        browser_hash=sha256_hex(browser_token), flow=flow, scopes=link.scopes, redirect_uri=redirect_uri(flow),
        expires_at=now + timedelta(seconds=settings.CONNECTIONS_STATE_SECONDS),
    )
    record.write_secret("secrets", secret_values)
    record.save()
    return Started(redirect_url=url, browser_token=browser_token)


def _start_oauth2(service: ServiceDefinition, scopes: list[str], state: str) -> tuple[str, dict]:
    config = service.oauth2
    verifier = generate_token(64) if config.pkce else None
    session = tokens.token_session(
        service, redirect_uri=redirect_uri("oauth2"), code_challenge_method="S256" if config.pkce else None,
    )
    extra = dict(config.authorize_params)
    extra.update(_scope_params(service, scopes))
    url, _ = session.create_authorization_url(config.authorize_url, state=state, code_verifier=verifier, **extra)
    return url, {"code_verifier": verifier} if verifier else {"pkce": False}


def _scope_params(service: ServiceDefinition, scopes: list[str]) -> dict[str, str]:
    return strategy_for(service).scope_params(scopes) if scopes else {}


def _oauth1_session(service: ServiceDefinition, **kwargs) -> "tokens.OAuth1TokenSession":
    config = service.oauth1
    return tokens.OAuth1TokenSession(
        config.consumer_key, config.consumer_secret, signature_method=config.signature_method, **kwargs
    )


def _oauth1_call(fn, url: str, **kwargs) -> dict:
    try:
        return dict(fn(url, **kwargs))
    except OAuthError as exc:
        raise ConnectionsError(f"the provider refused the request ({(exc.error or 'error')[:60]})") from None
    except ConnectionsError as exc:
        raise ConnectionsError(exc.message.rstrip(".").lower()) from None
    except (ValueError, KeyError, TypeError):
        raise ConnectionsError("the provider's answer could not be read") from None


def _start_oauth1(service: ServiceDefinition) -> tuple[str, dict, str]:
    session = _oauth1_session(service, redirect_uri=redirect_uri("oauth1"))
    token = _oauth1_call(session.fetch_request_token, service.oauth1.request_token_url)
    request_token, request_secret = token.get("oauth_token"), token.get("oauth_token_secret")
    if not request_token or not request_secret:
        raise ConnectionsError("the provider's request-token answer is incomplete")
    url = session.create_authorization_url(
        service.oauth1.authorize_url, request_token=request_token, **dict(service.oauth1.authorize_params)
    )
    return url, {"request_token": request_token, "request_token_secret": request_secret}, request_token


# -- finish ------------------------------------------------------------------------------
def _consume_state(key: str | None, browser_token: str | None, flow: str) -> OAuthState:
    """Find, check and consume the state; raise FlowError before any token request."""
    if not key:
        raise FlowError("Missing state", "The provider's answer has no state. Start again from the connection page.")
    record = OAuthState.objects.select_related("connection__organisation", "connection__custom_service").filter(
        state_hash=sha256_hex(key), flow=flow
    ).first()
    if record is None:
        raise FlowError(
            "Unknown consent",
            "This consent answer does not match any consent in progress (it may be forged, or its connection was "
            "deleted). Start again from the connection page.",
        )
    connection = record.connection
    if record.used_at is not None:
        raise FlowError("Consent already finished", "This consent answer was already used. Start again to reconnect.", connection=connection)
    if record.expires_at <= timezone.now():
        _set_error(connection, "Consent took longer than 10 minutes; start again.")
        raise FlowError("Consent expired", "Consent took longer than 10 minutes. Start again from the connection page.", connection=connection)
    if not browser_token or not secrets.compare_digest(sha256_hex(browser_token), record.browser_hash):
        raise FlowError(
            "Different browser",
            "This consent was started in another browser. Finish it in the browser that started it, or start again.",
            connection=connection,
        )
    if OAuthState.objects.filter(pk=record.pk, used_at__isnull=True).update(used_at=timezone.now()) != 1:
        raise FlowError("Consent already finished", "This consent answer was already used.", connection=connection)
    return record


def finish_oauth2(*, params: dict, browser_token: str | None) -> Connection:
    record = _consume_state(params.get("state"), browser_token, "oauth2")
    connection = record.connection
    service = selectors.connection_service(connection, with_secrets=True)
    error = params.get("error")
    if error:
        description = (params.get("error_description") or "").strip()[:300]
        message = f"The provider answered {error[:60]}" + (f": {description}" if description else ".")
        _set_error(connection, message)
        raise FlowError("Consent was not given", message, connection=connection)
    issuer = params.get("iss")
    if issuer and not _same_origin(issuer, service.oauth2.authorize_url):
        _set_error(connection, "The provider's answer names another issuer (iss); it was refused.")
        raise FlowError("Wrong issuer", "The answer came from another authorization server and was refused.", connection=connection)
    code = params.get("code")
    if not code:
        _set_error(connection, "The provider's answer has no authorization code.")
        raise FlowError("No code", "The provider's answer has no authorization code. Start again.", connection=connection)
    stored = record.read_secret("secrets") or {}
    session = tokens.token_session(service, redirect_uri=record.redirect_uri)
    try:
        token = tokens.call_token_endpoint(
            session.fetch_token, service.oauth2.token_url, grant_type="authorization_code", code=code,
            code_verifier=stored.get("code_verifier"), token_path=service.oauth2.token_path,
        )
    except tokens.RefreshFailed as exc:
        _set_error(connection, f"The token exchange failed: {exc.message}")
        raise FlowError("Token exchange failed", f"The token exchange failed: {exc.message}", connection=connection) from None
    kept = _kept_values(connection, service, token, params)
    _connected(connection, token, record.scopes, kept=kept)
    return connection


def _kept_values(connection: Connection, service: ServiceDefinition, token: dict, params: dict) -> dict:
    """The values the service keeps from the token answer and the callback (instance_url,
    realmId); a value naming a host outside the service's allowed hosts stores nothing."""
    try:
        return tokens.kept_values(service=service, config=connection.config or {}, token=token, callback=params)
    except tokens.RefreshFailed as exc:
        _set_error(connection, f"The provider's answer was refused: {exc.message}")
        raise FlowError("Answer refused", f"The provider's answer was refused: {exc.message}", connection=connection) from None


def finish_oauth1(*, params: dict, browser_token: str | None) -> Connection:
    record = _consume_state(params.get("oauth_token"), browser_token, "oauth1")
    connection = record.connection
    service = selectors.connection_service(connection, with_secrets=True)
    if params.get("denied") or not params.get("oauth_verifier"):
        _set_error(connection, "Consent was not given at the provider.")
        raise FlowError("Consent was not given", "Consent was not given at the provider.", connection=connection)
    stored = record.read_secret("secrets") or {}
    session = _oauth1_session(
        service, token=stored.get("request_token"), token_secret=stored.get("request_token_secret"),
        verifier=params["oauth_verifier"],
    )
    try:
        token = _oauth1_call(session.fetch_access_token, service.oauth1.access_token_url)
    except ConnectionsError as exc:
        _set_error(connection, f"The access-token request failed: {exc.message}")
        raise FlowError("Token exchange failed", f"The access-token request failed: {exc.message}", connection=connection) from None
    if not token.get("oauth_token") or not token.get("oauth_token_secret"):
        _set_error(connection, "The provider's access-token answer is incomplete.")
        raise FlowError("Token exchange failed", "The provider's access-token answer is incomplete.", connection=connection)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        locked.set_credentials({"oauth_token": token["oauth_token"], "oauth_token_secret": token["oauth_token_secret"]})
        locked.status = ConnectionStatus.CONNECTED
        locked.connected_at = timezone.now()
        locked.scopes = record.scopes
        locked.error = ""
        locked.expires_at = None
        locked.save()
        event_record(organisation=locked.organisation, actor="consent", action="connection.connected", target=locked.link_name)
    return locked


def _connected(connection: Connection, token: dict, scopes: list[str], *, kept: dict | None = None) -> None:
    with transaction.atomic():
        locked = Connection.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=connection.pk)
        locked.scopes = scopes
        if kept:
            locked.config = {**(locked.config or {}), **kept}
        tokens.store_token(locked, token, first=True)
        event_record(organisation=locked.organisation, actor="consent", action="connection.connected", target=locked.link_name)


def _set_error(connection: Connection, message: str) -> None:
    """Record why consent failed; the status stays as it was (pending, or connected on reconnect)."""
    Connection.objects.filter(pk=connection.pk).update(error=message[:1000])
    hot_cache.changed(connection_id=connection.pk)


def _same_origin(a: str, b: str | None) -> bool:
    if not b:
        return False
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, (pa.hostname or "").lower(), pa.port) == (pb.scheme, (pb.hostname or "").lower(), pb.port)
