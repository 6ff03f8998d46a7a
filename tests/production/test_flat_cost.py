"""Flat cost: the number of SQL queries for listing, getting and invoking a connection does
not grow with the number of connections, services or logs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections_app.models import (
    Connection,
    ConnectionStatus,
    CustomService,
    InvocationLog,
    Organisation,
)
from tests.factories import SECRET, make_connection, make_service

pytestmark = pytest.mark.django_db

# list: the API token, the page of connections (creator joined, last use as a subquery),
# then the page's custom services in one query. get: token, the connection with service and
# creator joined. invoke: token, connection, log insert. logs: token, connection, page.
BOUNDS = {"list": 3, "get": 2, "invoke": 3, "logs": 3}


@pytest.fixture
def world(admin, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    return admin


def requests_of(client) -> dict:
    return {
        "list": lambda: client.get("/api/v1/connections/?page_size=100"),
        "get": lambda: client.get("/api/v1/connections/acme_main/"),
        "invoke": lambda: client.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/anything"}, format="json"),
        "logs": lambda: client.get("/api/v1/connections/acme_main/logs/?page_size=100"),
    }


def count_queries(client, assert_max) -> dict[str, int]:
    counts = {}
    for name, call in requests_of(client).items():
        call()  # warm: the API token's last-use stamp, caches
        with assert_max(BOUNDS[name]), CaptureQueriesContext(connection) as queries:
            assert call().status_code == 200
        counts[name] = len(queries)
    return counts


def grow(organisation: Organisation, *, connections: int, services: int, logs: int) -> None:
    """Add custom services, connections using them and the catalog, and invocation logs."""
    template = CustomService.objects.get(organisation=organisation, link_name="acme_api")
    customs = CustomService.objects.bulk_create([
        CustomService(organisation=organisation, link_name=f"svc_{i}", name=f"Service {i}",
                      definition={**template.definition, "link_name": f"svc_{i}", "name": f"Service {i}"})
        for i in range(services)
    ])
    statuses = list(ConnectionStatus.values)
    rows = []
    for i in range(connections):
        custom = customs[i % len(customs)] if i % 3 else None
        row = Connection(organisation=organisation, link_name=f"conn_{i:04d}", name=f"Connection {i}",
                         service_link_name=custom.link_name if custom else "github", custom_service=custom,
                         status=statuses[i % len(statuses)], expires_at=timezone.now() + timedelta(hours=i % 5))
        row.set_credentials({"X-Api-Key": f"value-{i}"}, hint=f"value-{i}")
        rows.append(row)
    created = Connection.objects.bulk_create(rows)
    main = Connection.objects.get(organisation=organisation, link_name="acme_main")
    now = timezone.now()
    InvocationLog.objects.bulk_create([
        InvocationLog(organisation=organisation, connection=main if i % 2 else created[i % len(created)],
                      at=now - timedelta(minutes=i), method="GET", url="https://x.example/y", status_code=200)
        for i in range(logs)
    ])


def test_query_counts_are_bounded_and_flat(world, org, other_org, member_client, django_assert_max_num_queries):
    few = count_queries(world, django_assert_max_num_queries)
    grow(org, connections=120, services=30, logs=1500)
    outsider = member_client(other_org)
    make_service(outsider, base_url="http://127.0.0.1:9")
    make_connection(outsider, "acme_api", credentials={"X-Api-Key": SECRET})
    grow(other_org, connections=60, services=10, logs=300)
    many = count_queries(world, django_assert_max_num_queries)
    assert many == few, (few, many)
    # The list really carried the new rows.
    assert len(world.get("/api/v1/connections/?page_size=100").json()["results"]) == 100
