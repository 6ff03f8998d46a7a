"""The queries that grow with the data use indexes (PostgreSQL's plans, on enough rows for
the planner to prefer them). Each query is captured from the real code path and EXPLAINed."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from connections_app import tasks
from connections_app.models import Connection, ConnectionStatus, InvocationLog, Membership, Organisation, Role
from connections_app.services import api_token_create
from services_catalog import registry

from .conftest import postgresql_only

pytestmark = [pytest.mark.django_db, postgresql_only("the plans checked are PostgreSQL's")]

CONNECTIONS_PER_ORG = 1500
LOGS = 20000


@pytest.fixture(scope="module")
def big(django_db_setup, django_db_blocker):
    """Three organisations of connections, logs over 60 days, statistics up to date.

    Made once for the module (committed, then deleted): planning needs real statistics,
    and making them takes seconds.
    """
    with django_db_blocker.unblock():
        data = _populate()
        try:
            yield data
        finally:
            Organisation.objects.filter(slug__startswith="bigco").delete()
            get_user_model().objects.filter(username="bigco-admin").delete()


def _populate() -> dict:
    rng = random.Random(8)
    services = sorted(registry.catalog())[:20]
    now = timezone.now()
    orgs = [Organisation.objects.create(slug=f"bigco{i}", name=f"Big {i}") for i in range(3)]
    user = get_user_model().objects.create(username="bigco-admin")
    _token, key = api_token_create(membership=Membership.objects.create(user=user, organisation=orgs[0], role=Role.ADMIN))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    statuses = [ConnectionStatus.CONNECTED] * 17 + [ConnectionStatus.PENDING, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.REVOKED]
    rows = []
    for o in orgs:
        for i in range(CONNECTIONS_PER_ORG):
            status = rng.choice(statuses)
            # Most tokens are far from expiry; a few are due, as in a steady state.
            expires = now + timedelta(minutes=rng.randint(2, 20) if i % 100 == 0 else rng.randint(60, 24 * 60))
            rows.append(Connection(organisation=o, link_name=f"c_{i:05d}", name=f"C {i}", service_link_name=rng.choice(services),
                                   status=status, expires_at=expires if status == ConnectionStatus.CONNECTED else None))
    rng.shuffle(rows)  # created over time, not one organisation after another
    created = Connection.objects.bulk_create(rows)
    # A busy connection (a quarter of all logs) and many quiet ones (a few logs each).
    busy, quiet = (Connection.objects.get(organisation=orgs[0], link_name=name) for name in ("c_00007", "c_00008"))
    InvocationLog.objects.bulk_create([
        InvocationLog(organisation_id=c.organisation_id, connection=c, at=now - timedelta(minutes=rng.randint(0, 60 * 24 * 60)),
                      method="GET", url="https://api.example/x", status_code=200)
        for c in (busy if i % 4 == 0 else rng.choice(created) for i in range(LOGS))
    ])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE connections_app_organisation, connections_app_connection, connections_app_invocationlog")
    return {"client": client, "busy": busy, "quiet": quiet}


def ok(response):
    assert response.status_code == 200, response.content
    return response


def plans_of(call, table: str) -> list[str]:
    """Run ``call``; return the plans of the statements it sent that read ``table``."""
    with CaptureQueriesContext(connection) as captured:
        call()
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if f'"{table}"' not in sql or not sql.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE")):
                continue
            cursor.execute("EXPLAIN " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans, f"no statement on {table}"
    return plans


def assert_indexed(plans: list[str], table: str) -> None:
    for plan in plans:
        assert "Index" in plan and f"Seq Scan on {table}" not in plan, plan


def test_connection_list_pages_use_indexes(big):
    admin = big["client"]
    table = "connections_app_connection"
    service = sorted(registry.catalog())[3]
    for query, index in (
        ("", "unique_connection_link_name"),
        ("&after=c_01000", "unique_connection_link_name"),  # a deep page starts where it is
        ("&status=needs_reauth", "connection_org_status"),
        (f"&service={service}", "connection_org_service"),
    ):
        plans = plans_of(lambda: ok(admin.get(f"/api/v1/connections/?page_size=100{query}")), table)
        assert_indexed(plans, table)
        # A few matching rows may be fetched by bitmap and sorted; many come in index order.
        assert all(index in plan for plan in plans), plans


def test_the_last_use_of_each_listed_connection_is_an_index_lookup(big):
    admin = big["client"]
    plans = plans_of(lambda: admin.get("/api/v1/connections/?page_size=100"), "connections_app_invocationlog")
    assert all("invocation_conn_at" in plan for plan in plans), plans


def test_logs_of_a_connection_use_an_index(big):
    admin = big["client"]
    table = "connections_app_invocationlog"
    for name, indexes in (
        # The busy connection's newest rows are dense at the end of the table: walking the
        # primary key backwards finds a page soon. For a quiet one that walk would read the
        # whole table: it must be looked up by connection.
        ("busy", ("invocation_conn_id", "connections_app_invocationlog_pkey")),
        ("quiet", ("invocation_conn_id", "invocation_conn_at")),
    ):
        url = f"/api/v1/connections/{big[name].link_name}/logs/?page_size=100"
        plans = plans_of(lambda: ok(admin.get(url)), table)
        assert_indexed(plans, table)
        assert all(any(index in plan for index in indexes) for plan in plans), plans


def test_refresh_sweep_uses_an_index(big):
    plans = plans_of(tasks.due_connection_ids, "connections_app_connection")
    assert_indexed(plans, "connections_app_connection")
    assert all("connection_refresh_sweep" in plan for plan in plans), plans


def test_retention_uses_the_time_index(big):
    plans = plans_of(lambda: tasks.prune_invocation_logs(batch_size=500), "connections_app_invocationlog")
    assert_indexed(plans, "connections_app_invocationlog")
