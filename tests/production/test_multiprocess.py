"""Two web servers and two Celery workers on one PostgreSQL and one Redis: each token is
refreshed exactly once, whoever asks, and every server sees the same data."""

from __future__ import annotations

import functools
import re
import threading
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from connections_app.models import Connection
from connections_app.tasks import refresh_due
from tests.integration.processes import at_once, wait_for

from .conftest import postgresql_only
from .gunicorn import free_port

pytestmark = [
    pytest.mark.integration, pytest.mark.django_db(transaction=True),
    postgresql_only("four processes writing at once; SQLite takes one writer at a time"),
]

SWEPT = 8


def worker_refreshes(port: int) -> int:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = re.search(r'^connections_refreshes_total\{outcome="refreshed"\} ([0-9.]+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def invoke(server, token: str, link_name: str) -> tuple[int, int | None]:
    response = requests.post(f"{server.url}/api/v1/invoke/", json={"connection": link_name, "url": "/api/me"},
                             headers={"Authorization": f"Token {token}"}, timeout=60)
    return response.status_code, response.json().get("status_code")


def test_two_servers_and_two_workers_refresh_each_token_once(admin, connect, provider, gunicorns, celery_processes, tmp_path):
    expired = connect("acme_main", expires_in=-5)
    due = [connect(f"due_{i}", expires_in=120) for i in range(SWEPT)]  # inside the 600 s refresh-ahead window
    provider.reset_counts()
    servers = [gunicorns.start("web-a", wait=False), gunicorns.start("web-b", wait=False)]  # they boot meanwhile
    metric_ports = [free_port(), free_port()]
    workers = [celery_processes.worker(name, PROMETHEUS_MULTIPROC_DIR=tmp_path / f"metrics-{name}", CONNECTIONS_WORKER_METRICS_PORT=port)
               for name, port in zip(("w1", "w2"), metric_ports)]
    for server in servers:
        gunicorns.wait_ready(server)

    # 20 invokes at once, spread over both servers, on an expired token: one refresh grant.
    provider.token_delay_seconds = 0.5  # widen the race
    results = at_once([functools.partial(invoke, servers[i % 2], admin.token, "acme_main") for i in range(20)])
    assert results == [(200, 200)] * 20
    assert provider.grant_counts["refresh_token"] == 1
    assert Connection.objects.get(pk=expired.pk).expires_at > timezone.now() + timedelta(minutes=30)

    # One sweep, its refreshes spread over both workers: each due connection once.
    provider.token_delay_seconds = 0.2  # long enough that both workers take a share
    provider.reset_counts()
    refresh_due.delay()
    wait_for(lambda: provider.grant_counts["refresh_token"] >= SWEPT, timeout=60, message="the sweep's refreshes")
    wait_for(lambda: all(c.last_refreshed_at for c in Connection.objects.filter(pk__in=[d.pk for d in due])),
             message="the refreshed tokens stored")
    refresh_due.delay()  # a second sweep finds nothing due
    threading.Event().wait(2)
    assert provider.grant_counts["refresh_token"] == SWEPT
    assert provider.grant_attempts["refresh_token"] == SWEPT
    done = [sum(int(n) for n in re.findall(r"refresh_connections\[[^\]]+\] succeeded in [^:]+: \{[^}]*'refreshed': (\d+)", w.log_path.read_text()))
            for w in workers]
    assert sum(done) == SWEPT and all(done), f"refreshes per worker: {done}"
    # Each worker's metrics count what its pool processes did.
    counted = [worker_refreshes(port) for port in metric_ports]
    assert counted == done

    # The same list from both servers, and both see the refreshed state.
    lists = [requests.get(f"{s.url}/api/v1/connections/?page_size=100", headers={"Authorization": f"Token {admin.token}"},
                          timeout=10).json() for s in servers]
    assert lists[0] == lists[1]
    assert len(lists[0]["results"]) == SWEPT + 1 and {c["status"] for c in lists[0]["results"]} == {"connected"}
