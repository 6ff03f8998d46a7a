"""OAuth 2.0 tokens: exchange, store, refresh (single-flight), revoke.

Authlib's ``OAuth2Session`` speaks the protocol (client authentication, grant bodies,
RFC 7009 revocation); it runs over the same guarded transport as invoke, with a timeout
and a size cap on the token endpoint's answer.

Single flight: a refresh takes a short lease on the connection row with one atomic
``UPDATE ... WHERE lease is free`` (works on SQLite and PostgreSQL, across processes, and
expires by itself if its holder dies). Whoever waits re-reads the row and uses the token
the winner stored. A rotated refresh token is saved in the same write as the new access
token; one the provider does not return keeps the old one.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import time
from datetime import timedelta
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth1Session, OAuth2Session
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from services_catalog.schema import ServiceDefinition

from . import hot_cache, http, selectors
from .auth import strategy_for
from .auth.oauth2 import JWT_BEARER_GRANT, JWT_CREDENTIAL_KEYS, kept_name, load_private_key
from .errors import ConnectionNotReady, ConnectionsError, UpstreamError, UpstreamTimeout
from .events import event_record
from .models import CustomService, ServiceClient
from .models import Connection, ConnectionStatus
from .observability.metrics import count_refresh
from .row_queries import Part, RowQuery

logger = logging.getLogger(__name__)

TOKEN_MAX_BYTES = 256 * 1024
WAIT_SECONDS = 30
INVOKE_REFRESH_LEEWAY = timedelta(seconds=60)
# Provider answers that mean the grant is dead: only a person can fix it (re-consent).
TERMINAL_ERRORS = {"invalid_grant", "unauthorized_client", "access_denied", "invalid_scope"}
# The provider refused the service's client itself: an admin fixes the client, once, for
# every connection; the connections keep their grants.
CLIENT_ERRORS = {"invalid_client"}


class RefreshFailed(ConnectionsError):
    """A refresh failed; ``terminal`` says whether retrying can help; ``client_refused``
    that the service's OAuth client (not the connection) was refused."""

    code, status = "upstream_error", 502

    def __init__(self, message: str, *, terminal: bool, client_refused: bool = False):
        super().__init__(message)
        self.terminal = terminal
        self.client_refused = client_refused


class GuardedSessionMixin:
    """Authlib sessions over the guarded adapter, with a deadline and a size cap."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trust_env = False
        adapter = http.shared_adapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def close(self):
        pass  # the adapter's pools are shared by every session of this process

    def request(self, method, url, *args, **kwargs):
        """One token-endpoint call (exchange, refresh, client credentials, revocation, OAuth 1
        token steps) under one overall deadline of its own: connect, headers and body."""
        http.check_url(url, [http.origin_entry(url)])  # scheme and private-address rules
        seconds = token_timeout()
        with http.deadline(seconds) as watchdog:
            deadline = watchdog.deadline
            kwargs.update(timeout=(min(10, seconds), seconds), stream=True, allow_redirects=False)
            try:
                response = super().request(method, url, *args, **kwargs)
                try:
                    response._content = http.read_capped(response, TOKEN_MAX_BYTES, deadline)
                finally:
                    response.close()
                if watchdog.fired:  # cut mid-answer: what was read is not the answer
                    raise UpstreamTimeout()
            except http.BlockedAddress:
                raise UpstreamError("The token endpoint is on a private address.") from None
            except (requests.exceptions.Timeout, UpstreamTimeout):
                raise UpstreamTimeout("The token endpoint did not answer in time.") from None
            except (requests.exceptions.RequestException, UpstreamError) as exc:
                if watchdog.fired:
                    raise UpstreamTimeout("The token endpoint did not answer in time.") from None
                if isinstance(exc, UpstreamError):
                    raise
                raise UpstreamError("The token endpoint could not be reached.") from None
        return response


def token_timeout() -> float:
    """The overall deadline of one token-endpoint call (CONNECTIONS_TOKEN_TIMEOUT_SECONDS)."""
    return float(settings.CONNECTIONS_TOKEN_TIMEOUT_SECONDS)


class _TokenSession(GuardedSessionMixin, OAuth2Session):
    pass


class OAuth1TokenSession(GuardedSessionMixin, OAuth1Session):
    pass


def token_session(service: ServiceDefinition, **kwargs) -> _TokenSession:
    config = service.oauth2
    if config.token_endpoint_auth_method == "private_key_jwt":
        return private_key_jwt_session(service, **kwargs)
    return _TokenSession(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method=config.token_endpoint_auth_method,
        revocation_endpoint_auth_method=config.token_endpoint_auth_method,
        **kwargs,
    )


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


MAX_EXPIRES_IN = 10 * 365 * 24 * 3600  # a longer promise is treated as this long


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


def _expires_at(token: dict):
    seconds = expires_in_seconds(token.get("expires_in"))
    return None if seconds is None else timezone.now() + timedelta(seconds=seconds)


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


def _token_fields(connection: Connection, token: dict, *, previous: dict | None = None) -> dict:
    """The columns a new token writes (credentials encrypted for ``connection``), for a save
    or an UPDATE alike."""
    connection.set_credentials(credentials_from_token(token, previous))
    return {
        "credentials_encrypted": connection.credentials_encrypted, "credentials_hint": connection.credentials_hint,
        "expires_at": _expires_at(token), "last_refreshed_at": timezone.now(), "refresh_failing_since": None, "error": "",
    }


def store_token(connection: Connection, token: dict, *, previous: dict | None = None, first: bool = False) -> None:
    """Write the new token, its expiry and status in one save (call inside a transaction)."""
    for name, value in _token_fields(connection, token, previous=previous).items():
        setattr(connection, name, value)
    connection.status = ConnectionStatus.CONNECTED
    if first or connection.connected_at is None:
        connection.connected_at = connection.last_refreshed_at
    connection.save()


# -- the lease ---------------------------------------------------------------------------
# Taking the lease hands back the row as it is under the lease, in the same statement.
_LEASE = RowQuery(
    [Part(Connection, "c")],
    "UPDATE {c_table} SET refresh_lock_until = %s, refresh_lock_owner = %s "
    "WHERE id = %s AND (refresh_lock_until IS NULL OR refresh_lock_until < %s)",
    returning=True,
)


def _take_lease(connection_id: int, owner: str) -> Connection | None:
    """The row, now leased to ``owner``; None while someone else holds a live lease."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.CONNECTIONS_REFRESH_LEASE_SECONDS)
    db = connections[Connection.objects.db]
    row = _LEASE.first([db.ops.adapt_datetimefield_value(until), owner, connection_id, db.ops.adapt_datetimefield_value(now)])
    return row[0] if row else None


def _release_lease(connection_id: int, owner: str) -> None:
    Connection.objects.filter(pk=connection_id, refresh_lock_owner=owner).update(refresh_lock_until=None, refresh_lock_owner="")


def _reload(connection: Connection) -> Connection:
    return Connection.objects.select_related("custom_service", "organisation").get(pk=connection.pk)


def refresh(*, connection: Connection, service: ServiceDefinition, stale_access_token: str | None, force: bool = False) -> dict:
    """Refresh the connection's token unless someone else already did; return credentials.

    ``stale_access_token`` is the token the caller saw: if the stored one differs when the
    lease is ours, another caller refreshed meanwhile and its token is used as is. The
    usual path is three statements: take the lease (and read the row), call the token
    endpoint, store the token (and give the lease back).
    """
    owner = secrets.token_hex(8)
    waited_until = time.monotonic() + WAIT_SECONDS
    while (current := _take_lease(connection.pk, owner)) is None:
        if time.monotonic() > waited_until:
            raise RefreshFailed("Another refresh of this connection is taking too long.", terminal=False)
        time.sleep(0.05)
        other = _reload(connection)  # someone holds the lease: use their token once it is stored
        creds = other.read_secret("credentials") or {}
        _require_connected(other)
        if _refreshed_by_another(other, creds, stale_access_token):
            return creds
    current.organisation = connection.organisation
    stored = False
    try:
        creds = current.read_secret("credentials") or {}
        _require_connected(current)
        if _refreshed_by_another(current, creds, stale_access_token):
            return creds  # the winner before us stored a fresh token
        if not force:
            _require_no_backoff(current)
        fresh = _refresh_locked(current, service, creds, owner)
        stored = True
        return fresh
    finally:
        if not stored:
            _release_lease(connection.pk, owner)


def backing_off(connection: Connection) -> bool:
    """True while a failed refresh's backoff runs: nobody refreshes before retry time."""
    return connection.refresh_retry_at is not None and connection.refresh_retry_at > timezone.now()


def _require_no_backoff(current: Connection) -> None:
    if backing_off(current):
        raise RefreshFailed(
            f"Refreshing failed recently; the next try is at {current.refresh_retry_at:%Y-%m-%d %H:%M:%S} UTC.",
            terminal=False,
        )


def _require_connected(current: Connection) -> None:
    if current.status != ConnectionStatus.CONNECTED:
        raise RefreshFailed(current.error or f"The connection is {current.status}.", terminal=True)


def token_lifetime(connection: Connection) -> timedelta | None:
    """How long the stored token was issued for (from when it was stored to its expiry)."""
    start = connection.last_refreshed_at or connection.connected_at
    if connection.expires_at is None or start is None or connection.expires_at <= start:
        return None
    return connection.expires_at - start


def refresh_leeway(connection: Connection) -> timedelta:
    """How long before expiry a call refreshes: 60 s, but at most a quarter of the token's
    lifetime, so a token that lives a minute or less is used, not refreshed on every call."""
    lifetime = token_lifetime(connection)
    return INVOKE_REFRESH_LEEWAY if lifetime is None else min(INVOKE_REFRESH_LEEWAY, lifetime / 4)


def refresh_ahead(connection: Connection) -> timedelta:
    """How long before expiry the sweep refreshes: CONNECTIONS_REFRESH_AHEAD_SECONDS, but at
    most half the token's lifetime (one sweep refresh per expiry, also for short tokens)."""
    ahead = timedelta(seconds=settings.CONNECTIONS_REFRESH_AHEAD_SECONDS)
    lifetime = token_lifetime(connection)
    return ahead if lifetime is None else min(ahead, lifetime / 2)


def _due(connection: Connection) -> bool:
    """True when the stored token expires within the (scaled) invoke leeway."""
    return connection.expires_at is not None and connection.expires_at <= timezone.now() + refresh_leeway(connection)


def _refreshed_by_another(current: Connection, creds: dict, stale_access_token: str | None) -> bool:
    """Someone stored a new token since the caller looked, and it is not about to expire."""
    return creds.get("access_token") != stale_access_token and not _due(current)


def _refresh_locked(connection: Connection, service: ServiceDefinition, creds: dict, owner: str) -> dict:
    config = service.oauth2
    try:
        if client_refused(connection):
            raise RefreshFailed(
                "The provider refused this service's OAuth client (invalid_client); an admin must set its client "
                "secret again.", terminal=False, client_refused=True,
            )
        if fetches_own_token(service):
            token = own_token_request(service=service, scopes=connection.scopes, credentials=creds)
        else:
            refresh_token = creds.get("refresh_token")
            if not refresh_token:
                raise RefreshFailed("The provider gave no refresh token; reconnect to get a new access token.", terminal=True)
            session = token_session(service)
            token = call_token_endpoint(
                session.refresh_token, config.refresh_url, refresh_token=refresh_token, token_path=config.token_path,
            )
    except RefreshFailed as exc:
        _record_failure(connection, exc)
        raise
    fresh = _store_refreshed(connection, token, previous=creds, owner=owner)
    logger.info("refreshed token for connection %s", connection.pk)
    count_refresh("refreshed")
    return fresh


def _store_refreshed(connection: Connection, token: dict, *, previous: dict, owner: str) -> dict:
    """Write the refreshed token and give the lease back, in one UPDATE.

    Only a connection still ``connected`` takes it: one revoked or deleted meanwhile keeps
    its state (the caller releases the lease).
    """
    fields = _token_fields(connection, token, previous=previous)
    now = fields["last_refreshed_at"]
    # Only while the lease is still ours: a writer whose lease ran out (and was taken over
    # by another refresh) must never overwrite the newer token that one stored.
    written = Connection.objects.filter(pk=connection.pk, status=ConnectionStatus.CONNECTED, refresh_lock_owner=owner).update(
        **fields, connected_at=Coalesce("connected_at", Value(now)), updated_at=now, refresh_queued_at=None,
        refresh_lock_until=None, refresh_lock_owner="", refresh_retry_at=None, refresh_failures=0,
    )
    if written:
        hot_cache.changed(connection_id=connection.pk)
        return connection.read_secret("credentials")
    current = _reload(connection)
    if current.status != ConnectionStatus.CONNECTED:
        raise RefreshFailed("The connection was revoked or removed while its token was being refreshed.", terminal=True)
    logger.warning("refresh of connection %s outlived its lease; the token stored meanwhile is kept", connection.pk)
    count_refresh("lease_lost")
    return current.read_secret("credentials") or {}


def _record_failure(connection: Connection, exc: RefreshFailed) -> None:
    if exc.client_refused:
        count_refresh("client_refused")
        Connection.objects.filter(pk=connection.pk).update(error=exc.message[:1000], refresh_queued_at=None)
        hot_cache.changed(connection_id=connection.pk)
        service_client_mark_refused(connection=connection, reason=exc.message)
        return
    count_refresh("needs_reauth" if exc.terminal else "transient_failure")
    now = timezone.now()
    if exc.terminal:
        mark_needs_reauth(connection=connection, reason=f"{exc.message} Reconnect to give consent again.")
        return
    failing_since = connection.refresh_failing_since or now
    failures = connection.refresh_failures + 1
    retry_at = now + backoff_delay(failures)
    message = f"Refresh failed, next try at {retry_at:%Y-%m-%d %H:%M:%S} UTC: {exc.message}"
    if connection.expires_at and connection.expires_at < now:
        message = (
            f"The token expired and refreshing has failed since {failing_since:%Y-%m-%d %H:%M} UTC "
            f"(next try at {retry_at:%H:%M:%S} UTC): {exc.message}"
        )
    Connection.objects.filter(pk=connection.pk).update(
        refresh_failing_since=failing_since, refresh_failures=failures, refresh_retry_at=retry_at,
        refresh_queued_at=None, error=message[:1000],
    )
    hot_cache.changed(connection_id=connection.pk)


def backoff_delay(failures: int) -> timedelta:
    """Exponential backoff with jitter: base × 2^(failures-1), capped, then a random 50-100 %
    of it, so connections that failed together do not all come back at once."""
    base = settings.CONNECTIONS_REFRESH_BACKOFF_SECONDS
    cap = settings.CONNECTIONS_REFRESH_BACKOFF_MAX_SECONDS
    delay = min(cap, base * 2 ** min(failures - 1, 30))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))


def _client_row(connection: Connection):
    """The row that holds this connection's OAuth client: its custom service, or the
    organisation's client for a preconfigured service."""
    if connection.custom_service_id:
        return CustomService.objects.filter(pk=connection.custom_service_id)
    return ServiceClient.objects.filter(organisation_id=connection.organisation_id, service_link_name=connection.service_link_name)


def client_refused(connection: Connection) -> bool:
    return _client_row(connection).filter(client_refused_at__isnull=False).exists()


def service_client_mark_refused(*, connection: Connection, reason: str) -> None:
    """Mark the service's client refused (once: one event, one notification)."""
    with transaction.atomic():
        if _client_row(connection).filter(client_refused_at__isnull=True).update(client_refused_at=timezone.now()):
            hot_cache.changed(organisation_id=connection.organisation_id)  # the custom service row is cached
            event_record(
                organisation=connection.organisation, actor="system", action="service.client_refused",
                target=connection.service_link_name, data={"reason": reason[:300], "connection": connection.link_name},
            )


def mark_needs_reauth(*, connection: Connection, reason: str) -> None:
    """Set ``needs_reauth`` with a clear error (once) and record the event."""
    with transaction.atomic():
        changed = Connection.objects.filter(pk=connection.pk, status=ConnectionStatus.CONNECTED).update(
            status=ConnectionStatus.NEEDS_REAUTH, error=reason[:1000]
        )
        hot_cache.changed(connection_id=connection.pk)
        if changed:
            event_record(
                organisation=connection.organisation, actor="system", action="connection.needs_reauth",
                target=connection.link_name, data={"reason": reason[:300]},
            )


def ensure_fresh(*, connection: Connection, service: ServiceDefinition, credentials: dict) -> dict:
    """Return usable credentials, refreshing first when the token expires within 60 s."""
    if not _due(connection):
        return credentials
    if not credentials.get("refresh_token") and not fetches_own_token(service):
        return credentials  # nothing to refresh with; the upstream will say if it is dead
    try:
        if backing_off(connection):  # however many calls come in, none refreshes before then
            _require_no_backoff(connection)
        service = _with_client(connection, service)
        return refresh(connection=connection, service=service, stale_access_token=credentials.get("access_token"))
    except RefreshFailed as exc:
        if exc.terminal:
            raise ConnectionNotReady(
                f"The connection {connection.link_name!r} needs re-authorisation: {exc.message}"
            ) from None
        if connection.expires_at and connection.expires_at > timezone.now():
            return credentials  # still valid for a few seconds: use it, retry refresh later
        raise UpstreamError(f"The token could not be refreshed: {exc.message}") from None


def refresh_after_401(*, connection: Connection, service: ServiceDefinition, rejected: dict) -> dict | None:
    """After an upstream 401: refresh once (or take a refresh someone just made)."""
    if not rejected.get("refresh_token") and not fetches_own_token(service):
        return None
    if backing_off(connection):
        return None
    service = _with_client(connection, service)
    try:
        return refresh(connection=connection, service=service, stale_access_token=rejected.get("access_token"))
    except RefreshFailed:
        return None


def _with_client(connection: Connection, service: ServiceDefinition) -> ServiceDefinition:
    if service.oauth2.client_secret:
        return service
    return selectors.connection_service(connection, with_secrets=True)


def _scope_string(service: ServiceDefinition, scopes: list[str]) -> str | None:
    return service.oauth2.scope_delimiter.join(scopes) if scopes else None


def own_token_fetch(*, connection: Connection, service: ServiceDefinition, actor: str, credentials: dict | None = None) -> None:
    """Fetch the first token of a connection without consent (client credentials, or the
    JWT bearer grant with the key in ``credentials``), keeping the values the service names."""
    credentials = credentials or {}
    try:
        token = own_token_request(service=service, scopes=connection.scopes, credentials=credentials)
        kept = kept_values(service=service, config=connection.config or {}, token=token)
    except RefreshFailed as exc:
        Connection.objects.filter(pk=connection.pk).update(error=f"Could not fetch a token: {exc.message}"[:1000])
        hot_cache.changed(connection_id=connection.pk)
        connection.error = f"Could not fetch a token: {exc.message}"
        return
    with transaction.atomic():
        connection.config = {**(connection.config or {}), **kept}
        store_token(connection, token, previous=credentials, first=True)
        event_record(organisation=connection.organisation, actor=actor, action="connection.connected", target=connection.link_name)


def revoke(*, connection: Connection, service: ServiceDefinition) -> None:
    """RFC 7009 revocation of the refresh and access tokens; failures are logged only."""
    creds = connection.read_secret("credentials") or {}
    session = token_session(service)
    for hint in ("refresh_token", "access_token"):
        value = creds.get(hint)
        if not value:
            continue
        try:
            response = session.revoke_token(service.oauth2.revoke_url, token=value, token_type_hint=hint)
            if response.status_code >= 400:
                logger.warning("revocation of connection %s answered HTTP %s", connection.pk, response.status_code)
        except (ConnectionsError, requests.exceptions.RequestException, ValueError) as exc:
            logger.warning("revocation of connection %s failed: %s", connection.pk, type(exc).__name__)


# -- grants without consent, private_key_jwt, values kept from the provider (RFC 7523) --
class _NoClientAuth(requests.auth.AuthBase):
    """A JWT bearer request without an OAuth client: the assertion is the only proof."""

    def __call__(self, request):
        return request


def fetches_own_token(service: ServiceDefinition) -> bool:
    """Whether the product gets tokens itself (no consent, no refresh token)."""
    return service.oauth2.grant_type in ("client_credentials", "jwt_bearer")


def private_key_jwt_session(service: ServiceDefinition, **kwargs) -> _TokenSession:
    """A session that authenticates the client with a JWT signed by its private key
    (RFC 7523 section 2.2), by Authlib's ``PrivateKeyJWT``."""
    from authlib.oauth2.rfc7523 import PrivateKeyJWT  # noqa: PLC0415

    config = service.oauth2
    try:
        key = load_private_key(config.client_private_key or "")
    except ValueError as exc:
        raise RefreshFailed(f"The client's private key: {exc}", terminal=True) from None
    session = _TokenSession(
        client_id=config.client_id, client_secret=key, token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt", **kwargs,
    )
    headers = {"kid": config.client_key_id} if config.client_key_id else None
    session.register_client_auth_method(PrivateKeyJWT(headers=headers, alg=config.assertion_algorithm))
    return session


def own_token_request(*, service: ServiceDefinition, scopes: list[str], credentials: dict) -> dict:
    """Ask the token endpoint for a token without consent: ``client_credentials``, or
    ``jwt_bearer`` with a fresh assertion signed by the connection's key."""
    config = service.oauth2
    scope = _scope_string(service, scopes)
    if config.grant_type != "jwt_bearer":
        session = token_session(service, scope=scope)
        return call_token_endpoint(session.fetch_token, config.token_url, grant_type="client_credentials")
    try:
        assertion = strategy_for(service).assertion(credentials, scope)
    except ValueError as exc:
        raise RefreshFailed(str(exc), terminal=True) from None
    session = token_session(service, scope=scope if config.assertion_scope == "form" else None)
    has_client = bool(config.client_id and (config.client_secret or config.client_private_key))
    extra = {} if has_client else {"auth": _NoClientAuth()}
    return call_token_endpoint(session.fetch_token, config.token_url, grant_type=JWT_BEARER_GRANT, assertion=assertion, **extra)


def kept_key_material(previous: dict | None) -> dict:
    """The key a JWT bearer connection gave: kept beside every new token."""
    return {k: v for k, v in (previous or {}).items() if k in JWT_CREDENTIAL_KEYS and isinstance(v, str)}


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def kept_values(*, service: ServiceDefinition, config: dict, token: dict | None = None, callback: dict | None = None) -> dict:
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


def token_at_path(token, path: str | None):
    """The token answer with the object at ``path`` (access token, refresh token, expiry,
    scope) taken in place of the top-level ones, when that object carries an access token;
    the other top-level members (team, ...) stay for the kept values."""
    nested = token.get(path) if path and isinstance(token, dict) else None
    if isinstance(nested, dict) and nested.get("access_token"):
        return {**token, **nested}
    return token
