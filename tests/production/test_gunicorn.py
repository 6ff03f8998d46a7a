"""The production server config: checks before start, probes, JSON access log, metrics
summed over workers."""

from __future__ import annotations

import json

import pytest
import requests

from tests.factories import SECRET, make_connection, make_service

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_wrong_encryption_key_stops_the_server_before_any_worker_starts(gunicorns, tmp_path):
    proc = gunicorns.run(
        "badkey", DJANGO_SETTINGS_MODULE="settings.prod", CONNECTIONS_ENCRYPTION_KEYS="not-a-fernet-key",
        DJANGO_SECRET_KEY="s" * 60, DJANGO_ALLOWED_HOSTS="connections.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path}/prod.sqlite3", CONNECTIONS_VAR_DIR=tmp_path, GUNICORN_BIND="127.0.0.1:0",
    )
    assert proc.wait(timeout=60) == 1
    log = (tmp_path / "badkey.log").read_text()
    assert "connections.E001" in log and "CONNECTIONS_ENCRYPTION_KEYS" in log
    assert "Booting worker" not in log and "not-a-fernet-key" not in log


def test_probes_json_access_log_and_metrics_over_two_workers(gunicorns, admin, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    server = gunicorns.start("web", GUNICORN_WORKERS=2, GUNICORN_THREADS=2)
    assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"]["encryption"] == "ok"

    headers = {"Authorization": f"Token {admin.token}"}
    rids = []
    for _ in range(8):  # a new TCP connection each time, so both workers take some
        response = requests.post(f"{server.url}/api/v1/invoke/?code=QUERY-SECRET", headers=headers, timeout=10,
                                 json={"connection": "acme_main", "url": "/protected/header/X-Api-Key"})
        assert response.json().get("status_code") == 200, response.text
        rids.append(response.headers["X-Request-ID"])
    # Whichever worker answers the scrape, it reports what both did.
    for _ in range(6):
        text = requests.get(f"{server.url}/metrics", timeout=10).text
        assert 'connections_invokes_total{status="2xx"} 8.0' in text
        assert 'connections_connections{status="connected"} 1.0' in text

    gunicorns.stop_all()
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "gunicorn.access" and e["path"] == "/api/v1/invoke/"]
    assert sorted(e["request_id"] for e in access) == sorted(rids)
    assert all(e["status"] == 200 and e["method"] == "POST" for e in access)
    assert any("Start-up checks: System check identified no issues" in e.get("message", "") for e in entries)
    assert "QUERY-SECRET" not in server.log() and admin.token not in server.log() and SECRET not in server.log()


def test_a_stopping_worker_writes_the_invocation_logs_it_still_holds(gunicorns, admin, upstream):
    from connections_app.models import InvocationLog

    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    server = gunicorns.start("web", CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=3600)  # batching: nothing written yet
    for _ in range(3):
        response = requests.post(f"{server.url}/api/v1/invoke/", headers={"Authorization": f"Token {admin.token}"},
                                 json={"connection": "acme_main", "url": "/protected/header/X-Api-Key"}, timeout=10)
        assert response.json()["status_code"] == 200, response.text
    assert InvocationLog.objects.count() == 0
    gunicorns.stop_all()  # SIGTERM: a graceful stop
    assert server.proc.returncode == 0
    assert InvocationLog.objects.filter(status_code=200).count() == 3
    assert "Wrote 3 pending invocation log row(s) before exiting" in server.log()
