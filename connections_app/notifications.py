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
import secrets
import time
from urllib.parse import urlsplit

from django.db import transaction

from . import http
from .errors import ValidationFailed
from .models import Event, Organisation

logger = logging.getLogger(__name__)

WEBHOOK_EVENTS = frozenset({"connection.needs_reauth", "connection.connected", "connection.revoked", "service.client_refused"})
SIGNATURE_HEADER = "Connections-Signature"


def event_dispatch(event: Event) -> None:
    """Queue the webhook delivery of ``event`` once the current transaction commits."""
    if event.action not in WEBHOOK_EVENTS or not event.organisation.webhook_url:
        return

    def enqueue() -> None:
        from .tasks import deliver_webhook  # noqa: PLC0415

        try:
            deliver_webhook.apply_async((event.pk,), retry=False)
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


def webhook_set(*, organisation: Organisation, actor, url: str) -> str:
    """Set the webhook URL and a new signing secret; return the secret (shown once)."""
    from .services import actor_name, event_record  # noqa: PLC0415

    if not isinstance(url, str) or not url:
        raise ValidationFailed.field("url", "This field is required.")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        raise ValidationFailed.field("url", "Give an absolute http(s) URL without user name or password.")
    if len(url) > 500:
        raise ValidationFailed.field("url", "At most 500 characters.")
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        organisation.webhook_url = url
        organisation.write_secret("webhook_secret", secret)
        organisation.save(update_fields=["webhook_url", "webhook_secret_encrypted"])
        event_record(organisation=organisation, actor=actor_name(actor), action="webhook.changed", target=parts.hostname)
    return secret


def webhook_clear(*, organisation: Organisation, actor) -> None:
    from .services import actor_name, event_record  # noqa: PLC0415

    with transaction.atomic():
        organisation.webhook_url = ""
        organisation.webhook_secret_encrypted = ""
        organisation.save(update_fields=["webhook_url", "webhook_secret_encrypted"])
        event_record(organisation=organisation, actor=actor_name(actor), action="webhook.removed")
