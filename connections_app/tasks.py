"""Celery tasks: thin, idempotent doors onto ``tokens`` and the log retention.

``refresh_due`` (every minute, from beat) picks connected OAuth 2.0 connections whose token
expires within ``CONNECTIONS_REFRESH_AHEAD_SECONDS`` and enqueues them in batches
(``refresh_connections``), spread out by a random countdown so a large backlog does not hit
the provider at once. It marks each connection it enqueues (``refresh_queued_at``), so that
while a backlog is being worked off the next sweeps do not enqueue it again. A connection
whose refresh fails for a passing reason waits out a backoff with jitter, stored on the
connection (``refresh_retry_at``): no sweep and no invoke
refreshes it before then. Refreshing is safe to run twice: under the per-connection lease it
re-reads the row and does nothing when the token is no longer due. Every task runs under
Celery's soft and hard time limits (CONNECTIONS_TASK_SOFT_TIME_LIMIT, _TIME_LIMIT).
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Connection, ConnectionStatus, InvocationLog

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 50_000  # connections enqueued per sweep at most
SWEEP_CHUNK = 1000
MAX_JITTER_SECONDS = 30
# A connection enqueued by a sweep is not enqueued again for this long (its task, or
# Celery's retries of it, are on the way); then a sweep picks it up again.
QUEUED_GRACE = timedelta(minutes=10)
# The sweep sends connections to the workers in batches: one task (one broker round trip,
# one acknowledgement) per batch rather than per connection. A small sweep sends one per
# task, so that every worker takes a share at once.
REFRESH_BATCH = 20


class TransientRefreshError(Exception):
    """Raised to make Celery retry a refresh later (network, timeout, 5xx)."""


def _candidates(now, *, after=None, limit: int = SWEEP_CHUNK) -> list[Connection]:
    """Connected connections whose token expires within the refresh-ahead window, that no
    recent sweep has enqueued and whose refresh backoff is over, by expiry (keyset after
    ``after`` = (expires_at, pk))."""
    horizon = now + timedelta(seconds=settings.CONNECTIONS_REFRESH_AHEAD_SECONDS)
    qs = (
        Connection.objects.filter(status=ConnectionStatus.CONNECTED, expires_at__isnull=False, expires_at__lte=horizon)
        .filter(Q(refresh_queued_at__isnull=True) | Q(refresh_queued_at__lt=now - QUEUED_GRACE))
        .filter(Q(refresh_retry_at__isnull=True) | Q(refresh_retry_at__lte=now))
    )
    if after is not None:
        qs = qs.filter(Q(expires_at__gt=after[0]) | Q(expires_at=after[0], pk__gt=after[1]))
    return list(qs.order_by("expires_at", "pk").only("pk", "expires_at", "last_refreshed_at", "connected_at")[:limit])


def _is_due(connection: Connection, now) -> bool:
    from .tokens import refresh_ahead  # noqa: PLC0415

    return connection.expires_at <= now + refresh_ahead(connection)


def due_connection_ids(*, now=None, limit: int = SWEEP_CHUNK) -> list[int]:
    """The first due connections: within the refresh-ahead window, scaled down to half the
    lifetime of short-lived tokens (tokens.refresh_ahead)."""
    now = now or timezone.now()
    return [c.pk for c in _candidates(now, limit=limit) if _is_due(c, now)]


@shared_task(name="connections_app.tasks.refresh_due", ignore_result=True)
def refresh_due() -> int:
    """Enqueue a refresh for every due connection, a chunk at a time, each marked as queued
    (in the same transaction) so that the next sweep does not enqueue it again."""
    now = timezone.now()
    enqueued = 0
    after = None
    while enqueued < SWEEP_LIMIT:
        with transaction.atomic():
            rows = _candidates(now, after=after)
            if not rows:
                break
            after = (rows[-1].expires_at, rows[-1].pk)
            ids = [c.pk for c in rows if _is_due(c, now)]
            if not ids:
                continue
            Connection.objects.filter(pk__in=ids).update(refresh_queued_at=now)
            # Spread a big backlog over up to 30 s, so the providers are not hit all at once.
            jitter = min(MAX_JITTER_SECONDS, (enqueued + len(ids)) // 100)
            size = max(1, min(REFRESH_BATCH, len(ids) // 50))
            for start in range(0, len(ids), size):
                batch = ids[start:start + size]
                countdown = random.uniform(0, jitter) if jitter else 0
                transaction.on_commit(lambda b=batch, c=countdown: refresh_connections.apply_async((b,), countdown=c))
        enqueued += len(ids)
    if enqueued:
        logger.info("refresh sweep: %d connection(s) due", enqueued)
    return enqueued


@shared_task(name="connections_app.tasks.refresh_connections", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def refresh_connections(connection_ids: list[int]) -> dict[str, int]:
    """Refresh a batch from the sweep. One that fails for a passing reason (network, 5xx)
    gets a task of its own, which Celery retries with backoff; the batch goes on."""
    outcomes: dict[str, int] = {}
    for position, connection_id in enumerate(connection_ids):
        try:
            outcome = refresh_one(connection_id)
        except TransientRefreshError:
            # Its backoff is stored on the connection (tokens.backoff_delay); the sweep
            # picks it up again once that has passed.
            outcome = "backing-off"
        except SoftTimeLimitExceeded:
            # Out of time: hand the rest to a new task rather than be killed mid-refresh.
            rest = connection_ids[position:]
            refresh_connections.apply_async((rest,))
            outcomes["requeued"] = len(rest)
            break
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@shared_task(
    name="connections_app.tasks.refresh_connection",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientRefreshError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def refresh_connection(self, connection_id: int, force: bool = False) -> str:
    return refresh_one(connection_id, force=force)


def refresh_one(connection_id: int, *, force: bool = False) -> str:
    """Refresh one connection's token if it is (still) due; say what happened."""
    from . import selectors, tokens

    connection = selectors.connection_by_id(connection_id)
    if connection is None or connection.status != ConnectionStatus.CONNECTED:
        return "skipped"
    if not force and (connection.expires_at is None or not _is_due(connection, timezone.now())):
        return "not-due"
    if tokens.backing_off(connection):  # a task retried by Celery comes back later
        raise TransientRefreshError("The connection's refresh backoff has not passed yet.")
    service = selectors.connection_service(connection, with_secrets=True)
    if not service.oauth2:
        return "skipped"
    creds = connection.read_secret("credentials") or {}
    try:
        tokens.refresh(connection=connection, service=service, stale_access_token=creds.get("access_token"))
    except tokens.RefreshFailed as exc:
        if exc.terminal:
            return "needs-reauth"
        raise TransientRefreshError(exc.message) from None
    return "refreshed"


@shared_task(name="connections_app.tasks.prune_invocation_logs", ignore_result=True)
def prune_invocation_logs(batch_size: int = 5000) -> int:
    """Delete invocation logs older than CONNECTIONS_LOG_RETENTION_DAYS, in batches."""
    cutoff = timezone.now() - timedelta(days=settings.CONNECTIONS_LOG_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(InvocationLog.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += InvocationLog.objects.filter(pk__in=ids).delete()[0]


@shared_task(
    name="connections_app.tasks.deliver_webhook", bind=True, acks_late=True, autoretry_for=(Exception,),
    retry_backoff=True, retry_backoff_max=900, retry_jitter=True, max_retries=10, ignore_result=True,
)
def deliver_webhook(self, event_id: int) -> int | None:
    from . import notifications
    from .models import Event

    event = Event.objects.select_related("organisation").filter(pk=event_id).first()
    if event is None or not event.organisation.webhook_url:
        return None
    status = notifications.deliver(event)
    if status >= 300:
        raise RuntimeError(f"webhook answered HTTP {status}")
    return status
