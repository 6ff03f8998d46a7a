"""Organisations, members, connections and what they leave behind.

Secrets live only in ``*_encrypted`` fields, written and read through ``crypto`` with a
context that binds each ciphertext to its organisation, row and field.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.db import models

from . import crypto
from .errors import ConnectionNotReady


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class EncryptedFieldsMixin:
    """Read and write the encrypted fields of a model bound to its organisation and uid."""

    def _context(self, field: str) -> str:
        return f"{self._meta.label_lower}:{self.organisation_id}:{self.uid}:{field}"

    def read_secret(self, field: str) -> Any:
        token = getattr(self, f"{field}_encrypted")
        return crypto.decrypt(token, context=self._context(field)) if token else None

    def write_secret(self, field: str, value: Any) -> None:
        setattr(self, f"{field}_encrypted", crypto.encrypt(value, context=self._context(field)) if value else "")


class Organisation(EncryptedFieldsMixin, models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    webhook_url = models.URLField(blank=True)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def organisation_id(self) -> int:  # lets the mixin bind org-level secrets too
        return self.pk


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DEVELOPER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organisation"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} as {self.role}"


class TokenAction(models.TextChoices):
    """What a scoped API token may do (within its member's role)."""

    READ = "read", "Read: list and see"
    INVOKE = "invoke", "Invoke: call services through connections"
    MANAGE = "manage", "Manage: create, change and delete"


class ApiToken(models.Model):
    """A personal API token acting as its membership; only a hash of the key is stored.

    A token may be limited further than its member's role: to some connections (by link
    name), to some actions, and in time. ``None`` means "not limited" (a full-role token).
    """

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    connections = models.JSONField(null=True, blank=True)  # link names, or None: every connection
    actions = models.JSONField(null=True, blank=True)  # TokenAction values, or None: all the role allows
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.membership})"

    @property
    def label(self) -> str:
        """How logs and audit events name the token: never the key, only its public prefix."""
        return f"{self.prefix}… {self.name}".strip()[:120]


class CustomService(EncryptedFieldsMixin, models.Model):
    """A service an organisation defined itself; ``definition`` follows the catalog schema."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="custom_services")
    link_name = models.CharField(max_length=50)
    name = models.CharField(max_length=100)
    definition = models.JSONField()
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    # Set when the provider refused this service's client (invalid_client); cleared when
    # the client secret is given again.
    client_refused_at = models.DateTimeField(null=True, blank=True, editable=False)
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["link_name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "link_name"], name="unique_custom_service_link_name")]

    def __str__(self) -> str:
        return self.link_name


class ServiceClient(EncryptedFieldsMixin, models.Model):
    """An organisation's OAuth client (or OAuth1 consumer) for a preconfigured service."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="service_clients")
    service_link_name = models.CharField(max_length=50)
    client_id = models.CharField(max_length=500)
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    # eBay's RuName: sent as redirect_uri in place of the callback URL (oauth2.uses_redirect_name).
    redirect_name = models.CharField(max_length=200, blank=True)
    # Set when the provider refused this client (invalid_client); cleared when it is set again.
    client_refused_at = models.DateTimeField(null=True, blank=True, editable=False)
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "service_link_name"], name="unique_service_client")
        ]


class ConnectionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONNECTED = "connected", "Connected"
    NEEDS_REAUTH = "needs_reauth", "Needs re-auth"
    REVOKED = "revoked", "Revoked"


class Connection(EncryptedFieldsMixin, models.Model):
    """One organisation's authorised use of a service. ``link_name`` never changes."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="connections")
    link_name = models.CharField(max_length=50, editable=False)
    name = models.CharField(max_length=100)
    service_link_name = models.CharField(max_length=50)
    custom_service = models.ForeignKey(
        CustomService, null=True, blank=True, on_delete=models.PROTECT, related_name="connections"
    )
    scopes = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.PENDING)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    credentials_hint = models.CharField(max_length=8, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_failing_since = models.DateTimeField(null=True, blank=True)
    # Backoff after failed refreshes: no refresh is tried before refresh_retry_at, whoever
    # asks (invokes, the sweep); it doubles per failure, with jitter (tokens.py).
    refresh_retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_failures = models.PositiveIntegerField(default=0, editable=False)
    # A short lease that makes refresh single-flight across processes (see tokens.py).
    refresh_lock_until = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_lock_owner = models.CharField(max_length=32, blank=True, editable=False)
    # When the refresh sweep last enqueued this connection: later sweeps skip it meanwhile.
    refresh_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    error = models.TextField(blank=True)
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["link_name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "link_name"], name="unique_connection_link_name")
        ]
        indexes = [
            models.Index(fields=["organisation", "status", "link_name"], name="connection_org_status"),
            models.Index(fields=["organisation", "service_link_name", "link_name"], name="connection_org_service"),
            models.Index(fields=["status", "expires_at"], name="connection_refresh_sweep"),
        ]

    def __str__(self) -> str:
        return self.link_name

    @property
    def credentials(self) -> dict:
        return self.read_secret("credentials") or {}

    def set_credentials(self, values: dict | None, *, hint: str = "") -> None:
        self.write_secret("credentials", values or None)
        self.credentials_hint = hint[-4:] if hint else ""

    def require_ready(self) -> None:
        """Raise ``ConnectionNotReady`` (saying what to do) unless the connection is connected."""
        if self.status != ConnectionStatus.CONNECTED:
            hint = {
                ConnectionStatus.PENDING: "consent has not finished; open its authorize URL",
                ConnectionStatus.NEEDS_REAUTH: "the provider refused its credentials; reconnect it",
                ConnectionStatus.REVOKED: "it was revoked; reconnect it or update its credentials",
            }[self.status]
            raise ConnectionNotReady(f"The connection {self.link_name!r} is {self.status}: {hint}.")


class AuthorizeLink(models.Model):
    """A one-time link that starts consent for a connection in any browser."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="authorize_links")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class OAuthState(EncryptedFieldsMixin, models.Model):
    """A consent in progress: bound to one browser, single-use, short-lived."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="oauth_states")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    state_hash = models.CharField(max_length=64, unique=True)
    browser_hash = models.CharField(max_length=64)
    flow = models.CharField(max_length=10)  # oauth1 | oauth2
    scopes = models.JSONField(default=list)
    redirect_uri = models.CharField(max_length=500)
    secrets_encrypted = models.TextField(blank=True, editable=False)
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class InvocationLog(models.Model):
    """One call made through a connection. ``url`` never carries injected credentials."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    # No index of its own: both indexes below start with it.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="invocations", db_index=False)
    at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=10)
    url = models.TextField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=100, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    token = models.CharField(max_length=120, blank=True)  # the API token's label, when one was used

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-at", "-id"], name="invocation_conn_at"),  # last use
            models.Index(fields=["connection", "-id"], name="invocation_conn_id"),  # the logs API pages by id
        ]


class Event(models.Model):
    """An audit record of a sensitive action or a status change; never holds a secret."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=150, blank=True)
    token = models.CharField(max_length=120, blank=True)  # the API token's label, when one was used
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=120, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        # The events API pages by id (keyset), so the index is on id.
        indexes = [models.Index(fields=["organisation", "-id"], name="event_org_id")]
