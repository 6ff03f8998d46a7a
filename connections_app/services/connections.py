"""Business steps for connections: create, update, reconnect, revoke, delete, test, refresh."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from services_catalog.schema import ServiceDefinition

from .. import hot_cache, selectors, tokens
from .. import invoke as invoke_step
from ..auth import strategy_for
from ..auth.base import FETCHED, TYPED
from ..errors import (
    Conflict,
    ConnectionNotReady,
    ConnectionsError,
    NotFound,
    UpstreamError,
    ValidationFailed,
)
from ..events import actor_name, event_record
from ..models import (
    AuthorizeLink,
    Connection,
    ConnectionStatus,
    CustomService,
    Organisation,
    sha256_hex,
)
from .validation import RESERVED_CONNECTION_LINK_NAMES, check_link_name, check_name


def _check_scopes(service: ServiceDefinition, scopes: Any) -> list[str]:
    if scopes is None:
        return list(service.default_scopes)
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValidationFailed.field("scopes", "Must be a list of scope names.")
    if scopes and not service.is_oauth:
        raise ValidationFailed.field("scopes", "Only OAuth services take scopes.")
    if service.scopes:
        unknown = [s for s in scopes if s not in service.scope_names]
        if unknown:
            raise ValidationFailed.field("scopes", f"Unknown scope: {', '.join(unknown)}.")
    elif any(not re.fullmatch(r"[!#-\[\]-~]{1,300}", s) for s in scopes):
        raise ValidationFailed.field("scopes", "Scope names are printable text without spaces.")
    return list(dict.fromkeys(scopes))


def _check_config(service: ServiceDefinition, config: Any) -> dict:
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValidationFailed.field("config", "Must be an object.")
    errors = service.config_errors(config)
    if errors:
        raise ValidationFailed("Some config values are missing or not valid.", fields=errors)
    return {f.name: config.get(f.name) or f.default for f in service.config_fields}



def connection_create(
    *, organisation: Organisation, actor, name: str, link_name: str, service: str,
    scopes: list[str] | None = None, credentials: dict[str, str | None] | None = None,
    config: dict[str, str | None] | None = None,
) -> tuple[Connection, str | None]:
    """Create a connection; return it and, for OAuth, a one-time authorize URL.

    Callers pass typed values (the API's ``ConnectionCreateSerializer``, the pages' forms);
    the checks below are of meaning: the link-name rule, the service, its scopes, config
    and credential fields."""
    errors: dict[str, list[str]] = {}
    for field, check in (("name", check_name), ("link_name", check_link_name)):
        try:
            check({"name": name, "link_name": link_name}[field])
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if isinstance(link_name, str) and link_name in RESERVED_CONNECTION_LINK_NAMES:
        errors["link_name"] = ["This link name is reserved; choose another."]
    if not isinstance(service, str) or not service:
        errors["service"] = ["This field is required."]
    if errors:
        raise ValidationFailed("Some fields are missing or not valid.", fields=errors)
    try:
        definition = selectors.service_get(organisation=organisation, link_name=service)
    except NotFound:
        raise ValidationFailed.field("service", f"No service with link name {service!r}.") from None
    custom = CustomService.objects.filter(organisation=organisation, link_name=service).first() if definition.kind == "custom" else None
    clean_config = _check_config(definition, config)
    resolved = selectors.with_client(definition, organisation=organisation, custom=custom).with_config(clean_config)
    clean_scopes = _check_scopes(definition, scopes)
    strategy = strategy_for(resolved)
    clean_credentials = strategy.validate_credentials(credentials)
    if resolved.is_oauth and not selectors.client_configured(resolved):
        raise ValidationFailed.field(
            "service",
            f"No OAuth client is set for {definition.name} in this organisation: an admin sets its client id "
            "and secret under Services.",
        )
    now = timezone.now()
    connection = Connection(
        organisation=organisation, link_name=link_name, name=name.strip(), service_link_name=definition.link_name,
        custom_service=custom, scopes=clean_scopes, config=clean_config,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if clean_credentials:  # typed ones, or the key a JWT bearer connection signs with
        connection.set_credentials(clean_credentials, hint=strategy.hint(clean_credentials))
    if strategy.connects_by == TYPED:
        connection.status = ConnectionStatus.CONNECTED
        connection.connected_at = now
    try:
        with transaction.atomic():
            connection.save()
            event_record(
                organisation=organisation, actor=actor_name(actor), action="connection.created", target=link_name,
                data={"service": definition.link_name},
            )
            if connection.status == ConnectionStatus.CONNECTED:
                event_record(organisation=organisation, actor=actor_name(actor), action="connection.connected", target=link_name)
    except IntegrityError:
        raise Conflict.field("link_name", f"The link name {link_name!r} is already used by another connection.") from None
    authorize_url = None
    if strategy.connects_by == FETCHED:
        tokens.own_token_fetch(connection=connection, service=resolved, actor=actor_name(actor), credentials=clean_credentials)
    elif strategy.needs_consent:
        authorize_url = authorize_link_create(connection=connection, scopes=clean_scopes)
    return connection, authorize_url


class ConnectionChanges(TypedDict, total=False):
    """What ``connection_update`` takes: only the keys being changed."""

    name: str
    scopes: list[str] | None
    credentials: dict[str, str | None] | None
    link_name: str  # accepted only unchanged


def connection_update(
    *, organisation: Organisation, actor, link_name: str, data: ConnectionChanges
) -> tuple[Connection, str | None]:
    """Change name, scopes or credentials; ``link_name`` never changes."""
    if not isinstance(data, dict):
        raise ValidationFailed("Send the changes as a JSON object.")
    if "link_name" in data and data["link_name"] != link_name:
        raise ValidationFailed.field("link_name", "The link name of a connection never changes; scripts use it.")
    unknown = set(data) - {"name", "scopes", "credentials", "link_name"}
    if unknown:
        raise ValidationFailed("Unknown fields.", fields={k: ["This field cannot be changed."] for k in sorted(unknown)})
    authorize_url = None
    with transaction.atomic():
        connection = Connection.objects.select_for_update(of=("self",)).select_related("custom_service", "organisation").filter(
            organisation=organisation, link_name=link_name
        ).first()
        if connection is None:
            raise NotFound(f"No connection with link name {link_name!r}.")
        service = selectors.connection_service(connection)
        strategy = strategy_for(service)
        changed = []
        if "name" in data:
            connection.name = check_name(data["name"])
            changed.append("name")
        if "credentials" in data:
            if strategy.connects_by != TYPED:
                raise ValidationFailed.field("credentials", "OAuth connections get their credentials through consent; use reconnect.")
            current = connection.credentials if connection.credentials_encrypted else {}
            values = strategy.validate_credentials(data["credentials"], partial=True)
            merged = {**current, **values}
            strategy.validate_credentials(merged)
            connection.set_credentials(merged, hint=strategy.hint(merged))
            if connection.status in (ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.REVOKED, ConnectionStatus.PENDING):
                connection.status = ConnectionStatus.CONNECTED
                connection.connected_at = timezone.now()
                connection.error = ""
            changed.append("credentials")
        scopes_changed = False
        if "scopes" in data:
            new_scopes = _check_scopes(service, data["scopes"])
            if service.is_oauth and set(new_scopes) != set(connection.scopes):
                scopes_changed = True
            connection.scopes = new_scopes
            changed.append("scopes")
        if scopes_changed:
            # The stored tokens stay until the new consent finishes (they are not revoked),
            # but the contract makes the connection pending until then.
            connection.status = ConnectionStatus.PENDING
        connection.save()
        event_record(
            organisation=organisation, actor=actor_name(actor),
            action="connection.credentials_changed" if "credentials" in changed else "connection.updated",
            target=link_name, data={"changed": changed},
        )
        if scopes_changed:
            authorize_url = authorize_link_create(connection=connection, scopes=connection.scopes)
    return connection, authorize_url


def authorize_link_create(*, connection: Connection, scopes: list[str] | None = None) -> str:
    """Return a one-time absolute URL (valid 30 minutes) that starts consent in any browser."""
    token = secrets.token_urlsafe(32)
    AuthorizeLink.objects.create(
        connection=connection, token_hash=sha256_hex(token),
        scopes=list(connection.scopes if scopes is None else scopes),
        expires_at=timezone.now() + timedelta(seconds=settings.CONNECTIONS_AUTHORIZE_LINK_SECONDS),
    )
    return f"{settings.CONNECTIONS_BASE_URL}/oauth/authorize/{token}"


def connection_reconnect(*, organisation: Organisation, actor, link_name: str) -> tuple[Connection, str]:
    connection = selectors.connection_get(organisation=organisation, link_name=link_name, annotate=False)
    service = selectors.connection_service(connection, with_secrets=True)
    if not strategy_for(service).needs_consent:
        raise ValidationFailed.field("link_name", "Only OAuth connections with consent can be reconnected; update the credentials instead.")
    if not selectors.client_configured(service):
        raise ValidationFailed.field("service", f"No OAuth client is set for {service.name} in this organisation.")
    url = authorize_link_create(connection=connection)
    event_record(organisation=organisation, actor=actor_name(actor), action="connection.reconnect_started", target=link_name)
    return connection, url


def connection_revoke(*, organisation: Organisation, actor, link_name: str) -> Connection:
    """Revoke at the provider where possible, wipe credentials, set ``revoked``."""
    connection = selectors.connection_get(organisation=organisation, link_name=link_name, annotate=False)
    _revoke_at_provider(connection)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        locked.set_credentials(None)
        locked.status = ConnectionStatus.REVOKED
        locked.expires_at = None
        locked.error = ""
        locked.save()
        AuthorizeLink.objects.filter(connection=locked, used_at__isnull=True).delete()
        event_record(organisation=organisation, actor=actor_name(actor), action="connection.revoked", target=link_name)
    return selectors.connection_get(organisation=organisation, link_name=link_name)


def connection_delete(*, organisation: Organisation, actor, link_name: str) -> None:
    connection = selectors.connection_get(organisation=organisation, link_name=link_name, annotate=False)
    _revoke_at_provider(connection)
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).delete()
        event_record(organisation=organisation, actor=actor_name(actor), action="connection.deleted", target=link_name)


def _revoke_at_provider(connection: Connection) -> None:
    """Call the provider's revocation endpoint; a failure is logged and never blocks the wipe."""
    if not connection.credentials_encrypted:
        return
    service = selectors.connection_service(connection, with_secrets=True)
    if service.oauth2 and service.oauth2.revoke_url:
        tokens.revoke(connection=connection, service=service)


def connection_test(*, organisation: Organisation, actor, link_name: str) -> dict:
    """Run the service's verify request, or report whether credentials are usable."""
    connection = selectors.connection_get(organisation=organisation, link_name=link_name, annotate=False)
    service = selectors.connection_service(connection)
    if connection.status != ConnectionStatus.CONNECTED:
        return {"ok": False, "status_code": None, "message": f"The connection is {connection.status}; " + _next_step(connection)}
    if service.verify is None:
        strategy = strategy_for(service)
        usable = strategy.has_usable_credentials(connection.credentials)
        expired = connection.expires_at is not None and connection.expires_at <= timezone.now()
        if not usable:
            return {"ok": False, "status_code": None, "message": "Credentials are missing; " + _next_step(connection)}
        if expired and not connection.credentials.get("refresh_token"):
            return {"ok": False, "status_code": None, "message": "The access token has expired; reconnect."}
        return {"ok": True, "status_code": None, "message": "Credentials are present and unexpired (this service has no verify request)."}
    try:
        result = invoke_step.invoke(
            organisation=organisation, actor=actor, connection=link_name, url=service.verify.path,
            method=service.verify.method, timeout=15,
        )
    except ConnectionsError as exc:
        return {"ok": False, "status_code": None, "message": exc.message}
    status = result["status_code"]
    if 200 <= status < 300:
        # It works again: an error left by an earlier failure (a failed re-consent) is over.
        Connection.objects.filter(pk=connection.pk).exclude(error="").update(error="")
        hot_cache.changed(connection_id=connection.pk)
        return {"ok": True, "status_code": status, "message": "The service accepted the credentials."}
    if status in (401, 403):
        return {"ok": False, "status_code": status, "message": "The service refused the credentials; " + _next_step(connection)}
    return {"ok": False, "status_code": status, "message": f"The service answered {status}."}


def _next_step(connection: Connection) -> str:
    service = selectors.connection_service(connection)
    if service.is_oauth:
        return "reconnect to give consent again."
    return "update the credentials."


def connection_refresh_now(*, organisation, actor, link_name: str) -> Connection:
    """The ``refresh`` API action: refresh now (OAuth2), single-flight with everyone else."""
    connection = selectors.connection_get(organisation=organisation, link_name=link_name, annotate=False)
    service = selectors.connection_service(connection, with_secrets=True)
    if not service.oauth2:
        raise ValidationFailed.field("link_name", "Only OAuth 2.0 connections have tokens to refresh.")
    connection.require_ready()
    creds = connection.read_secret("credentials") or {}
    try:  # a person asked: no backoff wait
        tokens.refresh(connection=connection, service=service, stale_access_token=creds.get("access_token"), force=True)
    except tokens.RefreshFailed as exc:
        if exc.terminal:
            raise ConnectionNotReady(f"The provider refused the refresh; reconnect. ({exc.message})") from None
        raise UpstreamError(exc.message) from None
    return connection
