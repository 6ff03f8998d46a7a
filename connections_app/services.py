"""Business steps: plain functions named ``<noun>_<verb>`` with keyword-only arguments.

Views, serializers, templates, commands and tasks call these and nothing deeper. Each step
validates its input completely before it writes, and writes in one transaction, so bad
input leaves nothing half-stored.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from services_catalog import registry
from services_catalog.schema import LINK_NAME_RE, SchemaError, ServiceDefinition

from . import hot_cache, notifications, selectors
from .token_limits import ACTIONS, ROLE_ACTIONS, token_within
from .auth import strategy_for
from .auth.base import FETCHED, TYPED
from .errors import (
    Conflict,
    ConnectionNotReady,
    ConnectionsError,
    NotFound,
    ValidationFailed,
)
from .models import (
    ApiToken,
    AuthorizeLink,
    Connection,
    ConnectionStatus,
    CustomService,
    Event,
    Membership,
    Organisation,
    ServiceClient,
    sha256_hex,
)

NAME_MAX = 100


# -- events ------------------------------------------------------------------------------
def event_record(*, organisation: Organisation, actor: str, action: str, target: str = "", data: dict | None = None) -> Event:
    """Record an audit event. ``data`` must never hold a secret. An ``actor`` from
    ``actor_name`` also names the API token used, if any."""
    event = Event.objects.create(
        organisation=organisation, actor=actor or "", token=getattr(actor, "token", ""), action=action, target=target,
        data=data or {},
    )
    notifications.event_dispatch(event)
    return event


# -- validation helpers ------------------------------------------------------------------
# Words the pages use in URLs where a connection's link name would go (/connections/new/).
RESERVED_CONNECTION_LINK_NAMES = frozenset({"new"})


def _check_link_name(value: Any, field: str = "link_name") -> str:
    if not isinstance(value, str) or not LINK_NAME_RE.match(value):
        raise ValidationFailed.field(
            field, "Must start with a lower case letter and use only a-z, 0-9 and _ (2 to 50 characters)."
        )
    return value


def _check_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.field(field, "This field is required.")
    if len(value.strip()) > NAME_MAX:
        raise ValidationFailed.field(field, f"At most {NAME_MAX} characters.")
    return value.strip()


# -- custom services ---------------------------------------------------------------------
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
    from . import http  # noqa: PLC0415

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


def service_client_set(*, organisation: Organisation, actor, link_name: str, client_id: str, client_secret: str) -> ServiceClient:
    """Store an organisation's OAuth client (or OAuth1 consumer) for a preconfigured service."""
    service = service_for_client(organisation=organisation, link_name=link_name)
    with transaction.atomic():
        client, _ = ServiceClient.objects.select_for_update().get_or_create(
            organisation=organisation, service_link_name=link_name, defaults={"client_id": client_id}
        )
        client.client_id = client_id
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


# -- connections -------------------------------------------------------------------------
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


class ActorName(str):
    """Who acted, as events and logs name them; ``token`` is the label of the API token
    they acted with ("" for a browser session, a command or the system)."""

    token: str = ""


def actor_name(actor) -> str:
    """The name events and logs record for ``actor`` (a user, or a word such as "system").
    A user authenticated with an API token carries it (``api_token``, set by the API's
    authentication and by MCP), and the name returned carries the token's label."""
    if isinstance(actor, ActorName):
        return actor
    name = ActorName(getattr(actor, "username", None) or (actor if isinstance(actor, str) else ""))
    token = getattr(actor, "api_token", None)
    if token is not None:
        name.token = token.label
    return name


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
    for field, check in (("name", _check_name), ("link_name", _check_link_name)):
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
        from . import tokens  # noqa: PLC0415

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
            connection.name = _check_name(data["name"])
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
        from . import tokens  # noqa: PLC0415

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
    from .invoke import invoke  # noqa: PLC0415

    try:
        result = invoke(
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


def connection_require_ready(connection: Connection) -> None:
    if connection.status != ConnectionStatus.CONNECTED:
        hint = {
            ConnectionStatus.PENDING: "consent has not finished; open its authorize URL",
            ConnectionStatus.NEEDS_REAUTH: "the provider refused its credentials; reconnect it",
            ConnectionStatus.REVOKED: "it was revoked; reconnect it or update its credentials",
        }[connection.status]
        raise ConnectionNotReady(f"The connection {connection.link_name!r} is {connection.status}: {hint}.")


# -- tokens and organisations ------------------------------------------------------------
def api_token_create(
    *, membership: Membership, name: Any = "", connections: Any = None, actions: Any = None, expires_at: Any = None,
    parent: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token; the key is returned once and only its hash is stored.

    ``connections`` (link names), ``actions`` (read, invoke, manage) and ``expires_at``
    limit it; ``None`` leaves each unlimited, within the member's role. ``parent`` is the
    token the request creating this one authenticated with: the new token never has more
    than it (its limits are inherited where none are given) nor than the role allows.
    """
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name.strip()) > NAME_MAX:
        raise ValidationFailed.field("name", f"A text of at most {NAME_MAX} characters.")
    if parent is not None:
        connections = parent.connections if connections is None else connections
        actions = parent.actions if actions is None else actions
        expires_at = parent.expires_at if expires_at is None else expires_at
    connections = _check_token_connections(membership, connections, parent)
    actions = _check_token_actions(membership, actions, parent)
    if expires_at is not None:
        if not hasattr(expires_at, "tzinfo") or expires_at <= timezone.now():
            raise ValidationFailed.field("expires_at", "Must be a date and time in the future.")
        if parent is not None and parent.expires_at is not None and expires_at > parent.expires_at:
            raise ValidationFailed.field("expires_at", "Cannot outlive the token this request uses.")
    key = "cnx_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        membership=membership, name=name.strip(), key_hash=sha256_hex(key), prefix=key[:10],
        connections=connections, actions=actions, expires_at=expires_at,
    )
    event_record(
        organisation=membership.organisation, actor=actor_name(membership.user), action="token.created",
        target=token.prefix, data={
            "role": membership.role, "name": token.name, "connections": connections, "actions": actions,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, key


def _check_token_connections(membership: Membership, value: Any, parent: ApiToken | None) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationFailed.field("connections", "A non-empty list of connection link names, or null for all.")
    wanted = sorted(set(value))
    if parent is not None and parent.connections is not None:
        wider = [v for v in wanted if v not in parent.connections]
        if wider:  # named before existence is checked: a limited token learns nothing of the rest
            raise ValidationFailed.field("connections", f"Outside the token this request uses: {', '.join(wider)}.")
    found = set(
        Connection.objects.filter(organisation=membership.organisation, link_name__in=wanted).values_list("link_name", flat=True)
    )
    missing = [v for v in wanted if v not in found]
    if missing:
        raise ValidationFailed.field("connections", f"No such connection: {', '.join(missing)}.")
    return wanted


def _check_token_actions(membership: Membership, value: Any, parent: ApiToken | None) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(v in ACTIONS for v in value):
        raise ValidationFailed.field("actions", f"A non-empty list of {', '.join(ACTIONS)}; or null for all the role allows.")
    role_allows = ROLE_ACTIONS[membership.role]
    beyond = [v for v in ACTIONS if v in value and v not in role_allows]
    if beyond:
        raise ValidationFailed.field("actions", f"The role {membership.role} does not allow: {', '.join(beyond)}.")
    if parent is not None and parent.actions is not None:
        wider = [v for v in ACTIONS if v in value and v not in parent.actions]
        if wider:
            raise ValidationFailed.field("actions", f"Outside the token this request uses: {', '.join(wider)}.")
    return [v for v in ACTIONS if v in value]


def api_token_revoke(*, membership: Membership, token_id: Any, parent: ApiToken | None = None) -> None:
    """Delete one of the membership's tokens. Another member's token, or one wider than
    ``parent`` (the token the request uses), is NotFound."""
    try:
        pk = int(token_id)
    except (TypeError, ValueError):
        raise NotFound("No such token.") from None
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(membership=membership, pk=pk).first()
        if token is None or not token_within(token, parent):
            raise NotFound("No such token.")
        prefix = token.prefix
        token.delete()
        event_record(
            organisation=membership.organisation, actor=actor_name(membership.user), action="token.revoked", target=prefix
        )


def membership_ensure(*, username: str, org_slug: str, role: str | None, create: bool, password: str | None = None) -> Membership:
    """Return the user's membership in the organisation, creating what is missing if asked."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        organisation = Organisation.objects.filter(slug=org_slug).first()
        if not create and (user is None or organisation is None):
            raise NotFound("No such user or organisation; pass --create to create them.")
        if user is None:
            user = User.objects.create_user(username=username, password=password)
        if organisation is None:
            organisation = Organisation.objects.create(slug=org_slug, name=org_slug)
        membership = Membership.objects.filter(user=user, organisation=organisation).first()
        if membership is None:
            if not create:
                raise NotFound(f"{username} is not a member of {org_slug}; pass --create to add them.")
            membership = Membership.objects.create(user=user, organisation=organisation, role=role or "developer")
        elif role and membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    return membership
