"""Read queries. Every one is scoped to an organisation; another organisation's data is
simply not found."""

from __future__ import annotations

import dataclasses
import functools
from types import SimpleNamespace

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from services_catalog import registry
from services_catalog.schema import SchemaError, ServiceDefinition

from .errors import NotFound
from .models import ApiToken, Connection, CustomService, InvocationLog, Membership, Organisation, ServiceClient
from .row_queries import Part, RowQuery
from .token_limits import connection_missing, token_within

@dataclasses.dataclass(frozen=True)
class _StoredDefinition:
    """A custom service's stored definition, equal (and hashed) by row and version only: the
    definition of one row version never changes, so it need not be compared."""

    pk: int
    version: str
    link_name: str = dataclasses.field(compare=False)
    definition: dict = dataclasses.field(compare=False)


@functools.lru_cache(maxsize=2048)
def _parsed(stored: _StoredDefinition) -> ServiceDefinition:
    try:
        return ServiceDefinition.from_dict(stored.definition, source=f"custom service {stored.link_name}", kind="custom")
    except SchemaError as exc:  # stored definitions were validated on write
        raise RuntimeError(f"Stored custom service {stored.link_name} is invalid: {exc}") from None


def custom_definition(custom: CustomService) -> ServiceDefinition:
    """Return a custom service's parsed definition (without its secret), cached per row version."""
    version = custom.updated_at.isoformat() if custom.updated_at else ""
    return _parsed(_StoredDefinition(custom.pk, version, custom.link_name, custom.definition))


def service_get(*, organisation: Organisation, link_name: str) -> ServiceDefinition:
    custom = CustomService.objects.filter(organisation=organisation, link_name=link_name).first()
    if custom is not None:
        return custom_definition(custom)
    service = registry.get(link_name)
    if service is None:
        raise NotFound(f"No service with link name {link_name!r}.")
    return service


def service_list(
    *, organisation: Organisation, auth_type: str | None = None, kind: str | None = None, search: str | None = None
) -> list[ServiceDefinition]:
    """Return preconfigured and custom services, sorted by link name."""
    services: list[ServiceDefinition] = []
    if kind in (None, "", "preconfigured"):
        services.extend(registry.catalog().values())
    if kind in (None, "", "custom"):
        services.extend(custom_definition(c) for c in CustomService.objects.filter(organisation=organisation))
    if auth_type:
        services = [s for s in services if s.auth_type == auth_type]
    if search:
        needle = search.lower()
        services = [s for s in services if needle in s.name.lower() or needle in s.link_name]
    return sorted(services, key=lambda s: s.link_name)


def service_clients(*, organisation: Organisation) -> dict[str, ServiceClient]:
    return {c.service_link_name: c for c in ServiceClient.objects.filter(organisation=organisation)}


def with_client(service: ServiceDefinition, *, organisation: Organisation, custom: CustomService | None = None) -> ServiceDefinition:
    """Return ``service`` with its OAuth client id and secret filled in (decrypted)."""
    if not service.is_oauth:
        return service
    if service.kind == "custom":
        if custom is None:
            custom = CustomService.objects.get(organisation=organisation, link_name=service.link_name)
        secret = custom.read_secret("client_secret")
        client_id, extra = None, None
    else:
        client = ServiceClient.objects.filter(organisation=organisation, service_link_name=service.link_name).first()
        secret = client.read_secret("client_secret") if client else None
        client_id = client.client_id if client else None
        # The client's other values the auth type names (eBay's redirect_name): ServiceClient columns.
        extra = {name: getattr(client, name) for name in service.client_extra_names} if client else None
    return service.with_client(client_id, secret, extra)


def client_configured(service: ServiceDefinition) -> bool:
    """Whether a service (as returned by ``with_client``) has its OAuth client id and secret."""
    return service.auth(service).client_configured()


def oauth_client_ready(*, organisation: Organisation, service: ServiceDefinition) -> bool:
    """Whether connections to ``service`` can start consent in this organisation."""
    return client_configured(with_client(service, organisation=organisation))


def connection_service(connection: Connection, *, with_secrets: bool = False) -> ServiceDefinition:
    """Return the connection's service with its config placeholders filled in."""
    if connection.custom_service_id:
        service = custom_definition(connection.custom_service)
    else:
        service = registry.get(connection.service_link_name)
        if service is None:
            raise NotFound(
                f"The service {connection.service_link_name!r} of this connection is no longer in the catalog."
            )
    if with_secrets:
        service = with_client(service, organisation=connection.organisation, custom=connection.custom_service)
    return service.with_config(connection.config or {})


def _last_used_subquery():
    return Subquery(
        InvocationLog.objects.filter(connection=OuterRef("pk")).order_by("-at").values("at")[:1]
    )


# What a listed connection shows (API and web list): the other columns (secrets, the refresh
# lease, timestamps nobody lists) are not read, and not converted row by row.
LISTED_FIELDS = (
    "organisation_id", "link_name", "name", "service_link_name", "custom_service_id", "status", "scopes", "config",
    "credentials_hint", "created_by_id", "created_at", "connected_at", "expires_at", "last_refreshed_at", "error",
    "refresh_retry_at",
)


def connection_list(
    *, organisation: Organisation, status: str | None = None, service: str | None = None, search: str | None = None,
    link_names: list[str] | None = None,
) -> QuerySet[Connection]:
    """The organisation's connections by link name, each with ``last_used_at`` and
    ``created_by_name``. Custom services are not joined (their definitions are large and
    shared by many rows): ``with_custom_services`` attaches them to a page in one query."""
    qs = Connection.objects.filter(organisation=organisation).only(*LISTED_FIELDS).annotate(
        last_used_at=_last_used_subquery(), created_by_name=F("created_by__username")
    )
    if link_names is not None:  # a scoped API token sees only its own connections
        qs = qs.filter(link_name__in=link_names)
    if status:
        qs = qs.filter(status=status)
    if service:
        qs = qs.filter(service_link_name=service)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(link_name__icontains=search.lower()))
    return qs.order_by("link_name")


class ListedConnection(SimpleNamespace):
    """A listed connection as plain attributes (``LISTED_FIELDS`` and the annotations): the
    API list reads rows as values, a third cheaper than model instances per row."""


def listed(rows: list[dict]) -> list[ListedConnection]:
    return [ListedConnection(**row) for row in rows]


def connection_list_values(**filters) -> QuerySet:
    """``connection_list`` as dicts of ``LISTED_FIELDS``, ``last_used_at`` and ``created_by_name``."""
    return connection_list(**filters).values(*LISTED_FIELDS, "last_used_at", "created_by_name")


def with_custom_services(connections: list[Connection]) -> list[Connection]:
    """Attach each connection's custom service, fetched once per distinct service."""
    wanted = {c.custom_service_id for c in connections if c.custom_service_id}
    if wanted:
        found = CustomService.objects.in_bulk(wanted)
        for connection in connections:
            if connection.custom_service_id:
                connection.custom_service = found[connection.custom_service_id]
    return connections


_CONNECTION_QUERY = RowQuery(
    [Part(Connection, "c"), Part(CustomService, "s")],
    "FROM {c_table} LEFT JOIN {s_table} ON {s}.id = {c}.custom_service_id WHERE {c}.organisation_id = %s AND {c}.link_name = %s",
)


def connection_values(*, organisation_id: int, link_name: str) -> tuple | None:
    """The lean lookup's row as plain values (the hot cache keeps them: hot_cache.py)."""
    return _CONNECTION_QUERY.first_values([organisation_id, link_name])


def connection_assemble(values: tuple) -> Connection:
    """A fresh connection, its custom service attached, from ``connection_values``."""
    connection, custom = _CONNECTION_QUERY.instances(values)
    connection.custom_service = custom
    return connection


def connection_get(*, organisation: Organisation, link_name: str, annotate: bool = True) -> Connection:
    """One connection of the organisation, with ``last_used_at`` and ``created_by_name`` as
    the list has them. ``annotate=False`` is the lean form for the hot paths (invoke,
    actions): one fixed query (row_queries.py), neither of those."""
    if annotate:
        connection = (
            Connection.objects.filter(organisation=organisation, link_name=link_name)
            .select_related("custom_service")
            .annotate(last_used_at=_last_used_subquery(), created_by_name=F("created_by__username")).first()
        )
    else:
        values = connection_values(organisation_id=organisation.pk, link_name=link_name)
        connection = values and connection_assemble(values)
    if connection is None:
        raise connection_missing(link_name)
    connection.organisation = organisation  # the caller's: no join, no extra query
    return connection


_CONNECTION_BY_ID = RowQuery(
    [Part(Connection, "c"), Part(CustomService, "s"), Part(Organisation, "o")],
    "FROM {c_table} LEFT JOIN {s_table} ON {s}.id = {c}.custom_service_id JOIN {o_table} ON {o}.id = {c}.organisation_id "
    "WHERE {c}.id = %s",
)


def connection_by_id(pk: int) -> Connection | None:
    """A connection with its organisation and custom service, for the workers (one fixed query)."""
    row = _CONNECTION_BY_ID.first([pk])
    if row is None:
        return None
    connection, custom, organisation = row
    connection.custom_service, connection.organisation = custom, organisation
    return connection


def invocation_list(*, connection: Connection) -> QuerySet[InvocationLog]:
    return InvocationLog.objects.filter(connection=connection).order_by("-at", "-id")


def connections_using(*, organisation: Organisation, service_link_name: str) -> int:
    return Connection.objects.filter(organisation=organisation, service_link_name=service_link_name).count()


def api_token_list(*, membership: Membership, within: ApiToken | None = None) -> list[ApiToken]:
    """The membership's tokens, newest first; with ``within`` (the token a request uses),
    only those that can do nothing it cannot (a limited token does not see wider ones)."""
    tokens = ApiToken.objects.filter(membership=membership).order_by("-created_at", "-id")
    return [t for t in tokens if token_within(t, within)]


def connections_of_service(*, organisation: Organisation, service_link_name: str) -> QuerySet[Connection]:
    """The connections that use a service (name and link name only), by link name."""
    return (
        Connection.objects.filter(organisation=organisation, service_link_name=service_link_name)
        .only("link_name", "name", "status").order_by("link_name")
    )


def connection_counts_by_service(*, organisation: Organisation) -> dict[str, int]:
    """How many connections use each service, in one query."""
    rows = (
        Connection.objects.filter(organisation=organisation).order_by().values("service_link_name")
        .annotate(count=Count("pk")).values_list("service_link_name", "count")
    )
    return dict(rows)


def custom_service_list(*, organisation: Organisation) -> QuerySet[CustomService]:
    return CustomService.objects.filter(organisation=organisation).order_by("link_name")


def custom_service_get(*, organisation: Organisation, link_name: str) -> CustomService:
    custom = CustomService.objects.filter(organisation=organisation, link_name=link_name).first()
    if custom is None:
        raise NotFound(f"No custom service with link name {link_name!r}.")
    return custom


def service_link_name_owner(*, organisation: Organisation, link_name: str) -> str | None:
    """Which kind of service has this link name ("preconfigured" or "custom"), or None."""
    if registry.get(link_name) is not None:
        return "preconfigured"
    return "custom" if CustomService.objects.filter(organisation=organisation, link_name=link_name).exists() else None


def connection_link_name_taken(*, organisation: Organisation, link_name: str) -> bool:
    return Connection.objects.filter(organisation=organisation, link_name=link_name).exists()


def connection_credential_hints(*, connection: Connection, service: ServiceDefinition) -> list[tuple[str, str]]:
    """What the connection's page shows of its typed credentials: pairs of a name and a
    hint the auth type chooses (never enough of a secret to matter)."""
    if not service.credential_fields() or not connection.credentials_encrypted:
        return []
    return service.auth(service).credential_hints(connection.credentials)
