"""Flat cost on the hot path: with warm entries, an invoke makes one Redis round trip and
no lookup query, whether the organisation has one connection and one token or 10,000
connections and 1,000 tokens (and other organisations have more)."""

from __future__ import annotations

import secrets

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from connections_app.models import (
    ApiToken,
    Connection,
    ConnectionStatus,
    Membership,
    sha256_hex,
)
from tests.hot_cache_world import URL, RedisCalls, hot, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def warm_cost(clients, monkeypatch) -> list[tuple[int, int]]:
    """(queries, Redis round trips) of one warm invoke per client."""
    costs = []
    for client in clients:
        for _ in range(3):  # learn the ids, then the entries
            assert client.post("/api/v1/invoke/", {"connection": "acme_main", "url": URL}, format="json").status_code == 200
        calls = RedisCalls(monkeypatch)
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/invoke/", {"connection": "acme_main", "url": URL}, format="json")
        assert response.status_code == 200 and response.json()["status_code"] == 200
        monkeypatch.undo()
        costs.append((len(queries), calls.count))
    return costs


def grow(organisation, *, connections: int, tokens: int) -> list[APIClient]:
    template = Connection.objects.get(organisation=organisation, link_name="acme_main")
    rows = []
    for i in range(connections):
        row = Connection(organisation=organisation, link_name=f"conn_{i:05d}", name=f"Connection {i}",
                         service_link_name=template.service_link_name, custom_service_id=template.custom_service_id,
                         status=ConnectionStatus.CONNECTED)
        row.set_credentials({"X-Api-Key": f"value-{i}"}, hint="")
        rows.append(row)
    Connection.objects.bulk_create(rows, batch_size=1000)
    user = get_user_model().objects.create(username="many")
    membership = Membership.objects.create(user=user, organisation=organisation, role="developer")
    keys = [secrets.token_urlsafe(24) for _ in range(tokens)]
    ApiToken.objects.bulk_create(
        [ApiToken(membership=membership, name=f"t{i}", key_hash=sha256_hex(k), prefix=k[:10]) for i, k in enumerate(keys)],
        batch_size=500,
    )
    clients = []
    for key in (keys[0], keys[len(keys) // 2], keys[-1]):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        clients.append(client)
    return clients


def test_warm_invoke_costs_the_same_with_10000_connections_and_1000_tokens(world, org, monkeypatch):  # noqa: F811
    few = warm_cost([world], monkeypatch)
    assert few == [(1, 1)]  # the log row (tests write it at once), and the one round trip
    clients = grow(org, connections=10_000, tokens=1_000)
    assert Connection.objects.count() > 10_000 and ApiToken.objects.count() > 1_000
    many = warm_cost([world, *clients], monkeypatch)
    assert many == few * 4, many
