"""Business steps for the organisation's webhook of status events."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.db import transaction

from ..errors import ValidationFailed
from ..events import actor_name, event_record
from ..models import Organisation


def webhook_set(*, organisation: Organisation, actor, url: str) -> str:
    """Set the webhook URL and a new signing secret; return the secret (shown once)."""
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
    with transaction.atomic():
        organisation.webhook_url = ""
        organisation.webhook_secret_encrypted = ""
        organisation.save(update_fields=["webhook_url", "webhook_secret_encrypted"])
        event_record(organisation=organisation, actor=actor_name(actor), action="webhook.removed")
