"""Tokens of connections: store, refresh (single-flight), revoke, fetch without consent.

The protocol is the auth type's (``auth/oauth2``: Authlib's ``OAuth2Session`` over the
guarded transport, one overall deadline per token-endpoint call): it hands back a ``Grant``
or raises ``RefreshFailed``. This module keeps what is generic: the lease, storing the
grant encrypted, status changes and their events.

Single flight: a refresh takes a short lease on the connection row with one atomic
``UPDATE ... WHERE lease is free`` (works on SQLite and PostgreSQL, across processes, and
expires by itself if its holder dies). Whoever waits re-reads the row and uses the token
the winner stored. A rotated refresh token is saved in the same write as the new access
token; one the provider does not return keeps the old one.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from services_catalog.schema import ServiceDefinition

from . import hot_cache, selectors
from .auth import strategy_for
from .auth.token_calls import Grant, RefreshFailed
from .errors import ConnectionNotReady, UpstreamError
from .events import event_record
from .models import CustomService, ServiceClient
from .models import Connection, ConnectionStatus
from .observability.metrics import count_refresh
from .row_queries import Part, RowQuery

logger = logging.getLogger(__name__)

WAIT_SECONDS = 30
INVOKE_REFRESH_LEEWAY = timedelta(seconds=60)


def _token_fields(connection: Connection, grant: Grant, now) -> dict:
    """The columns a grant writes (credentials encrypted for ``connection``), for a save or
    an UPDATE alike."""
    connection.set_credentials(grant.credentials)
    fields = {
        "credentials_encrypted": connection.credentials_encrypted, "credentials_hint": connection.credentials_hint,
        "expires_at": None if grant.expires_in is None else now + timedelta(seconds=grant.expires_in), "error": "",
    }
    if grant.renewable:
        fields |= {"last_refreshed_at": now, "refresh_failing_since": None}
    return fields


def store_token(connection: Connection, grant: Grant, *, first: bool = False) -> None:
    """Write the granted token, its expiry, the values kept with it and the status in one
    save (call inside a transaction)."""
    now = timezone.now()
    for name, value in _token_fields(connection, grant, now).items():
        setattr(connection, name, value)
    if grant.kept:
        connection.config = {**(connection.config or {}), **grant.kept}
    connection.status = ConnectionStatus.CONNECTED
    if first or connection.connected_at is None:
        connection.connected_at = now
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
    try:
        if client_refused(connection):
            raise RefreshFailed(
                "The provider refused this service's OAuth client (invalid_client); an admin must set its client "
                "secret again.", terminal=False, client_refused=True,
            )
        grant = strategy_for(service).renewed_token(credentials=creds, scopes=connection.scopes)
    except RefreshFailed as exc:
        _record_failure(connection, exc)
        raise
    fresh = _store_refreshed(connection, grant, owner=owner)
    logger.info("refreshed token for connection %s", connection.pk)
    count_refresh("refreshed")
    return fresh


def _store_refreshed(connection: Connection, grant: Grant, *, owner: str) -> dict:
    """Write the refreshed token and give the lease back, in one UPDATE.

    Only a connection still ``connected`` takes it: one revoked or deleted meanwhile keeps
    its state (the caller releases the lease).
    """
    now = timezone.now()
    fields = _token_fields(connection, grant, now)
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
    if not strategy_for(service).can_renew(credentials):
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
    if not strategy_for(service).can_renew(rejected):
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


def own_token_fetch(*, connection: Connection, service: ServiceDefinition, actor: str, credentials: dict | None = None) -> None:
    """Fetch the first token of a connection without consent (client credentials, or the
    JWT bearer grant with the key in ``credentials``), keeping the values the service names."""
    try:
        grant = strategy_for(service).fetch_own_token(
            credentials=credentials or {}, scopes=connection.scopes, config=connection.config or {},
        )
    except RefreshFailed as exc:
        Connection.objects.filter(pk=connection.pk).update(error=f"Could not fetch a token: {exc.message}"[:1000])
        hot_cache.changed(connection_id=connection.pk)
        connection.error = f"Could not fetch a token: {exc.message}"
        return
    with transaction.atomic():
        store_token(connection, grant, first=True)
        event_record(organisation=connection.organisation, actor=actor, action="connection.connected", target=connection.link_name)


def revoke(*, connection: Connection, service: ServiceDefinition) -> None:
    """Revoke the connection's tokens at the provider (RFC 7009); failures are logged only."""
    for problem in strategy_for(service).revoke(connection.read_secret("credentials") or {}):
        logger.warning("revocation of connection %s %s", connection.pk, problem)
