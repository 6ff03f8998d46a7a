"""Business steps for custom services and organisations' OAuth clients."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from services_catalog import registry
from services_catalog.schema import SchemaError, ServiceDefinition

from .. import hot_cache, http, selectors
from ..auth.oauth2.config import REDIRECT_NAME_PATTERN
from ..errors import (
    Conflict,
    NotFound,
    ValidationFailed,
)
from ..events import actor_name, event_record
from ..models import (
    Connection,
    ConnectionStatus,
    CustomService,
    Organisation,
    ServiceClient,
)


def _require_client(definition: ServiceDefinition, secret: str | None) -> None:
    """A custom OAuth service carries its own client: both id and secret are required."""
    block = definition.client
    if block is None or definition.auth(definition).client_optional:
        return
    id_field, secret_field = definition.client_fields
    section = definition.auth.section
    if not getattr(block, id_field):
        raise ValidationFailed.field(f"{section}.{id_field}", "This field is required.")
    if not secret:
        raise ValidationFailed.field(f"{section}.{secret_field}", "This field is required.")
    for name in definition.client_extra_names:
        if not getattr(block, name):
            raise ValidationFailed.field(f"{section}.{name}", "This field is required.")


def custom_service_parse(data: Any) -> ServiceDefinition:
    """Validate a custom service given as plain data (API body, page form, fixture) with the
    one service definition; a bad field raises ``ValidationFailed`` naming every field."""
    if not isinstance(data, dict):
        raise ValidationFailed("Send the service as a JSON object.")
    try:
        return ServiceDefinition.from_dict(data, source="custom service", kind="custom")
    except SchemaError as exc:
        raise ValidationFailed(f"{exc.field}: {exc.message}", fields=exc.errors) from None


def _client_secret(definition: ServiceDefinition) -> str | None:
    block = definition.client
    return getattr(block, definition.client_fields[1]) if block is not None else None


def custom_service_create(*, organisation: Organisation, actor, definition: ServiceDefinition) -> CustomService:
    """Store a validated custom service; its client secret (if any) is stored encrypted."""
    if definition.config_fields:
        raise ValidationFailed.field("config_fields", "Custom services do not take config fields.")
    secret = _client_secret(definition)
    _require_client(definition, secret)
    if registry.get(definition.link_name) is not None:
        raise Conflict.field("link_name", f"The link name {definition.link_name!r} is taken by a preconfigured service.")
    try:
        with transaction.atomic():
            custom = CustomService(
                organisation=organisation, link_name=definition.link_name, name=definition.name,
                definition=definition.to_dict(), created_by=actor if getattr(actor, "pk", None) else None,
            )
            custom.write_secret("client_secret", secret)
            custom.save()
            event_record(organisation=organisation, actor=actor_name(actor), action="service.created", target=custom.link_name)
    except IntegrityError:
        raise Conflict.field("link_name", f"The link name {definition.link_name!r} is already taken.") from None
    return custom


def custom_service_update(*, organisation: Organisation, actor, link_name: str, definition: ServiceDefinition) -> CustomService:
    """Replace a custom service's definition (validated whole); without a new client secret
    in it, the stored one is kept."""
    with transaction.atomic():
        custom = _custom_for_write(organisation, link_name, lock=True)
        if definition.link_name != custom.link_name:
            raise ValidationFailed.field("link_name", "The link name of a service cannot change.")
        if definition.auth_type != custom.definition["auth_type"]:
            if selectors.connections_using(organisation=organisation, service_link_name=link_name):
                raise Conflict("The auth type cannot change while connections use this service.")
        if definition.config_fields:
            raise ValidationFailed.field("config_fields", "Custom services do not take config fields.")
        secret = _client_secret(definition)
        secret_changed = secret is not None
        if secret is None and definition.is_oauth:
            secret = custom.read_secret("client_secret")
        _require_client(definition, secret)
        # Credentials are write-only: an admin who cannot read them must not be able to
        # send them somewhere new either. A change that widens where they go needs the
        # client secret again, and the connections holding credentials give them again.
        try:
            previous = ServiceDefinition.from_dict(custom.definition, source="custom service", kind="custom")
        except SchemaError:  # stored under older rules: treat every destination as new
            previous = None
        repointed = _repointed(previous, definition) if previous else ["every destination"]
        holders = Connection.objects.filter(custom_service=custom).exclude(credentials_encrypted="")
        if repointed and holders.exists() and definition.is_oauth and not secret_changed:
            key = f"{definition.auth.section}.{definition.auth.client_fields[1]}"
            raise Conflict(
                f"This change would send stored credentials to new destinations ({', '.join(repointed)}). Send {key} "
                "again in the same request to confirm: the connections holding credentials will then need new consent.",
                fields={key: ["Required again for this change."]},
            )
        custom.definition = definition.to_dict()
        custom.name = definition.name
        custom.write_secret("client_secret", secret if definition.is_oauth else None)
        if secret_changed:
            custom.client_refused_at = None  # a new secret: refreshes may try again
        custom.save()
        event_record(
            organisation=organisation, actor=actor_name(actor), action="service.updated", target=link_name,
            data={"client_secret_changed": secret_changed},
        )
        if repointed:
            reset = _connections_forget_credentials(organisation=organisation, holders=holders, changes=repointed)
            event_record(
                organisation=organisation, actor=actor_name(actor), action="service.destinations_changed", target=link_name,
                data={"changes": repointed, "connections_reset": reset},
            )
    return custom


REPOINTING_URLS = {
    "oauth2": ("token_url", "refresh_url", "revoke_url"),
    "oauth1": ("request_token_url", "access_token_url"),
}


def _repointed(old: ServiceDefinition, new: ServiceDefinition) -> list[str]:
    """What in ``new`` sends credentials somewhere ``old`` did not (narrowing is free)."""
    changes = []
    before = [http.Destination.parse(e) for e in http.service_destinations(old)]
    for entry in http.service_destinations(new):
        d = http.Destination.parse(entry)
        if not any(_covers(o, d) for o in before):
            changes.append(f"allowed host {d}")
    if old.base_url and new.base_url and http.origin_entry(old.base_url) != http.origin_entry(new.base_url):
        changes.append("base_url host")
    for block, names in REPOINTING_URLS.items():
        old_block, new_block = getattr(old, block), getattr(new, block)
        for name in names:
            if old_block and new_block and getattr(old_block, name) != getattr(new_block, name):
                changes.append(f"{block}.{name}")
    if old.param_type != new.param_type:
        changes.append("param_type")
    return list(dict.fromkeys(changes))


def _covers(old, new) -> bool:
    if (old.scheme, old.port) != (new.scheme, new.port):
        return False
    return old.pattern == new.pattern or (old.pattern.startswith("*.") and new.pattern.endswith(old.pattern[1:]))


def _connections_forget_credentials(*, organisation: Organisation, holders, changes: list[str]) -> int:
    """Wipe the credentials of the service's connections (they were given for the old
    destinations) and ask for them again: ``needs_reauth``, one event each."""
    reason = (
        f"The service's destinations changed ({', '.join(changes)[:200]}); its credentials were removed. "
        "Reconnect, or enter the credentials again."
    )
    names = list(holders.values_list("link_name", flat=True))
    holders.update(
        status=ConnectionStatus.NEEDS_REAUTH, credentials_encrypted="", credentials_hint="", expires_at=None,
        refresh_retry_at=None, refresh_failures=0, error=reason[:1000],
    )
    hot_cache.changed(organisation_id=organisation.pk)  # every connection of the organisation's entries
    for name in names:
        event_record(organisation=organisation, actor="system", action="connection.needs_reauth", target=name,
                     data={"reason": reason[:300]})
    return len(names)


def custom_service_delete(*, organisation: Organisation, actor, link_name: str) -> None:
    with transaction.atomic():
        custom = _custom_for_write(organisation, link_name, lock=True)
        if custom.connections.exists():
            raise Conflict("This service is still used by connections; delete them first.")
        custom.delete()
        event_record(organisation=organisation, actor=actor_name(actor), action="service.deleted", target=link_name)


def _custom_for_write(organisation: Organisation, link_name: str, *, lock: bool) -> CustomService:
    qs = CustomService.objects.filter(organisation=organisation, link_name=link_name)
    if lock:
        qs = qs.select_for_update()
    custom = qs.first()
    if custom is None:
        if registry.get(link_name) is not None:
            raise ValidationFailed.field("link_name", "Preconfigured services cannot be changed or deleted.")
        raise NotFound(f"No service with link name {link_name!r}.")
    return custom


def service_client_set(
    *, organisation: Organisation, actor, link_name: str, client_id: str, client_secret: str, redirect_name: str = "",
) -> ServiceClient:
    """Store an organisation's OAuth client (or OAuth1 consumer) for a preconfigured service
    (``redirect_name``: eBay's RuName, for a service that sends one)."""
    service = service_for_client(organisation=organisation, link_name=link_name)
    if "redirect_name" in service.client_extra_names and not re.fullmatch(REDIRECT_NAME_PATTERN, redirect_name or ""):
        raise ValidationFailed.field("redirect_name", "Give the redirect URI name (letters, digits, '_', '-', '.', '~').")
    with transaction.atomic():
        client, _ = ServiceClient.objects.select_for_update().get_or_create(
            organisation=organisation, service_link_name=link_name, defaults={"client_id": client_id}
        )
        client.client_id = client_id
        client.redirect_name = redirect_name if "redirect_name" in service.client_extra_names else ""
        client.write_secret("client_secret", client_secret)
        client.client_refused_at = None  # a new client: refreshes may try again
        client.save()
        event_record(organisation=organisation, actor=actor_name(actor), action="service.client_set", target=service.link_name)
    return client


def service_for_client(*, organisation: Organisation, link_name: str) -> ServiceDefinition:
    """Return the preconfigured OAuth service whose client an organisation may set."""
    service = registry.get(link_name)
    if service is None:
        if CustomService.objects.filter(organisation=organisation, link_name=link_name).exists():
            raise ValidationFailed.field(
                "link_name", "A custom service keeps its client in the service itself; PATCH the service."
            )
        raise NotFound(f"No service with link name {link_name!r}.")
    if not service.is_oauth:
        raise ValidationFailed.field("link_name", "Only OAuth services take client credentials.")
    return service
