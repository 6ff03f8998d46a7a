"""Prometheus metrics: invoke outcomes and time, refresh outcomes, connections by status,
and who may read /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from connections_app.models import Connection
from tests.factories import SECRET, invoke, make_connection, make_service

pytestmark = pytest.mark.django_db


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def api_key_conn(admin, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})


def test_invokes_are_counted_by_status_class_or_error_code_and_timed(admin, upstream, api_key_conn, settings):
    ok, client_error, refused = sample("connections_invokes_total", status="2xx"), sample("connections_invokes_total", status="4xx"), \
        sample("connections_invokes_total", status="upstream_error")
    timed = sample("connections_invoke_seconds_count")
    assert invoke(admin, url="/protected/header/X-Api-Key").json()["status_code"] == 200
    assert invoke(admin, url="/flaky/a?fail=1&status=404").json()["status_code"] == 404
    settings.CONNECTIONS_INVOKE_MAX_BODY_BYTES = 100
    assert invoke(admin, url="/binary").json()["error"]["code"] == "upstream_error"  # 256 bytes: too large
    assert sample("connections_invokes_total", status="2xx") == ok + 1
    assert sample("connections_invokes_total", status="4xx") == client_error + 1
    assert sample("connections_invokes_total", status="upstream_error") == refused + 1
    assert sample("connections_invoke_seconds_count") == timed + 3


def test_refreshes_are_counted_by_outcome(admin, connect, provider):
    before = {o: sample("connections_refreshes_total", outcome=o) for o in ("refreshed", "transient_failure", "needs_reauth")}
    connect("acme_main")
    assert admin.post("/api/v1/connections/acme_main/refresh/").status_code == 200
    provider.set_token_fault("500", times=1)
    assert admin.post("/api/v1/connections/acme_main/refresh/").status_code == 502
    provider.refresh_fault_invalid_grant = True
    assert admin.post("/api/v1/connections/acme_main/refresh/").status_code == 409
    after = {o: sample("connections_refreshes_total", outcome=o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {"refreshed": 1, "transient_failure": 1, "needs_reauth": 1}


def test_metrics_page_has_every_metric_and_connections_by_status(client, admin, api_key_conn, connect):
    connect("oauth_ok")
    connect("oauth_dead")
    Connection.objects.filter(link_name="oauth_dead").update(status="needs_reauth", expires_at=timezone.now() - timedelta(days=1))
    invoke(admin, url="/anything")
    response = client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for line in ('connections_connections{status="connected"} 2.0', 'connections_connections{status="needs_reauth"} 1.0',
                 'connections_connections{status="pending"} 0.0', 'connections_connections{status="revoked"} 0.0'):
        assert line in text
    assert 'connections_invokes_total{status="2xx"}' in text and "connections_invoke_seconds_bucket" in text
    assert "# TYPE connections_refreshes_total counter" in text
    assert SECRET not in text and "acme_api" not in text  # no secrets, no link names


def test_connections_gauge_is_one_query_whatever_the_number_of_connections(client, admin, api_key_conn, django_assert_num_queries):
    with django_assert_num_queries(1):
        client.get("/metrics")


def test_metrics_token_is_required_when_set(client, settings):
    settings.CONNECTIONS_METRICS_TOKEN = "metrics-token-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    denied = client.get("/metrics", HTTP_AUTHORIZATION="Token metrics-token-123")
    assert denied.status_code == 401 and denied["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-123").status_code == 200
