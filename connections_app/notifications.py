"""Webhook notifications of connection status changes.

An organisation may set one webhook URL. When a connection becomes ``needs_reauth``,
``connected`` or ``revoked``, a JSON event is POSTed there by a Celery task (enqueued after
the transaction commits, retried with backoff), signed like Stripe's webhooks:
``Connections-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
organisation's webhook secret. Delivery goes through the same hardened HTTP client as
invoke (same private-network rule).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from celery import current_app
from django.db import transaction

from . import http
from .models import Event

logger = logging.getLogger(__name__)

WEBHOOK_EVENTS = frozenset({"connection.needs_reauth", "connection.connected", "connection.revoked", "service.client_refused"})
SIGNATURE_HEADER = "Connections-Signature"
DELIVER_TASK = "connections_app.tasks.deliver_webhook"


def event_dispatch(event: Event) -> None:
    """Queue the webhook delivery of ``event`` once the current transaction commits."""
    if event.action not in WEBHOOK_EVENTS or not event.organisation.webhook_url:
        return

    def enqueue() -> None:
        try:
            queue_delivery(event.pk)
        except Exception as exc:  # the broker being down must not fail the user's action
            logger.warning("webhook for event %s not queued: %s", event.pk, type(exc).__name__)

    transaction.on_commit(enqueue)


def payload(event: Event) -> bytes:
    body = {
        "id": event.pk,
        "type": event.action,
        "created_at": event.at.isoformat().replace("+00:00", "Z"),
        "organisation": event.organisation.slug,
        "data": {"connection": event.target, **(event.data or {})},
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def deliver(event: Event) -> int:
    """POST the event; return the upstream status (raises ConnectionsError on failure)."""
    organisation = event.organisation
    body = payload(event)
    secret = organisation.read_secret("webhook_secret") or ""
    url = organisation.webhook_url
    response = http.send(
        http.OutboundRequest(
            method="POST", url=url, body=body,
            headers={"Content-Type": "application/json", "Connections-Event": event.action,
                     "Connections-Delivery": str(event.pk), SIGNATURE_HEADER: sign(body, secret)},
        ),
        allowed_hosts=[http.origin_entry(url)], auth=None, timeout=10, max_bytes=64 * 1024,
    )
    return response.status_code


def queue_delivery(event_id: int) -> None:
    """Send ``tasks.deliver_webhook`` by name: this module sits below the tasks (they call
    ``deliver``), so it names the task instead of importing it."""
    current_app.send_task(DELIVER_TASK, (event_id,), retry=False)
