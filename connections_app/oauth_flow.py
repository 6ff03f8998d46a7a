"""The consent dance: start it from a one-time authorize link, finish it at the callback.

``state`` is 256 random bits, stored only as a hash, single-use, bound to the browser that
started the flow (a random cookie, also stored as a hash) and valid for 10 minutes. It is
checked, and consumed, before the token endpoint is called. The protocol steps (authorize
URL and PKCE, the OAuth 1.0a request token, the callback's checks, the token exchange) are
the auth type's ``start_consent`` / ``finish_consent``; this module keeps the generic steps
and stores the grant.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import hot_cache, selectors, tokens
from .auth import auth_type_named, strategy_for
from .auth.token_calls import ConsentFailed, Grant
from .errors import ConnectionsError
from .events import event_record
from .models import AuthorizeLink, Connection, OAuthState, sha256_hex

BROWSER_COOKIE = "cnx_oauth_browser"


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
    """The callback URL of a consent flow (``flow``: its auth type's name)."""
    return settings.CONNECTIONS_BASE_URL + auth_type_named(flow).callback_path


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
    strategy = strategy_for(service)
    flow = strategy.name
    try:
        consent = strategy.start_consent(scopes=link.scopes, state=secrets.token_urlsafe(32), redirect_uri=redirect_uri(flow))
    except ConnectionsError as exc:
        _set_error(connection, f"Consent could not start: {exc.message}")
        raise FlowError("Could not reach the provider", f"Consent could not start: {exc.message}", connection=connection) from None
    record = OAuthState(
        connection=connection, organisation_id=connection.organisation_id, state_hash=sha256_hex(consent.state_key),
        browser_hash=sha256_hex(browser_token), flow=flow, scopes=link.scopes, redirect_uri=redirect_uri(flow),
        expires_at=now + timedelta(seconds=settings.CONNECTIONS_STATE_SECONDS),
    )
    record.write_secret("secrets", consent.secrets)
    record.save()
    return Started(redirect_url=consent.url, browser_token=browser_token)


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


def finish(*, flow: str, params: dict, browser_token: str | None) -> Connection:
    """Finish consent at the callback of ``flow`` (an auth type's name): the state is found
    by the parameter that type names, checked and consumed before its ``finish_consent``
    calls the token endpoint; the grant is stored."""
    home = auth_type_named(flow)
    record = _consume_state(params.get(home.state_param), browser_token, flow)
    connection = record.connection
    service = selectors.connection_service(connection, with_secrets=True)
    try:
        grant = home(service).finish_consent(
            params=params, secrets=record.read_secret("secrets") or {}, redirect_uri=record.redirect_uri,
            config=connection.config or {},
        )
    except ConsentFailed as exc:
        _set_error(connection, exc.recorded)
        raise FlowError(exc.title, exc.message, connection=connection) from None
    return _connected(connection, grant, record.scopes)


def _connected(connection: Connection, grant: Grant, scopes: list[str]) -> Connection:
    with transaction.atomic():
        locked = Connection.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=connection.pk)
        locked.scopes = scopes
        tokens.store_token(locked, grant, first=True)
        event_record(organisation=locked.organisation, actor="consent", action="connection.connected", target=locked.link_name)
    return locked


def _set_error(connection: Connection, message: str) -> None:
    """Record why consent failed; the status stays as it was (pending, or connected on reconnect)."""
    Connection.objects.filter(pk=connection.pk).update(error=message[:1000])
    hot_cache.changed(connection_id=connection.pk)
