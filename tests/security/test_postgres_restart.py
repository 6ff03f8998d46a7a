"""PostgreSQL restarted during a run of invokes against gunicorn: requests fail cleanly
(503 ``service_unavailable``, never a 500 or a hang) and succeed again afterwards."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from django.db import connection as db
from django.db import connections

from connections_app.models import Role

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def restart_postgres() -> None:
    versions = os.listdir("/etc/postgresql")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "restart", "-m", "fast"],
                   check=True, capture_output=True, timeout=60)


@pytest.fixture
def gunicorn(tmp_path):
    s = db.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test",
           "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"}
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "w+")
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "settings.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                             "--threads", "4", "--timeout", "30"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/login/", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.skipif(db.vendor != "postgresql", reason="restarts the PostgreSQL server (runs in the PostgreSQL pass)")
@pytest.mark.skipif(not shutil.which("pg_ctlcluster") or os.geteuid() != 0, reason="needs pg_ctlcluster as root")
def test_invokes_survive_a_postgres_restart(org, member_client, upstream, gunicorn):
    admin = member_client(org, Role.ADMIN)
    admin.post("/api/v1/services/", {"link_name": "pg_api", "name": "P", "auth_type": "api_key", "parameters": [{"key": "X-Api-Key", "display_name": "K"}],
                                     "base_url": upstream.url}, format="json")
    admin.post("/api/v1/connections/", {"name": "P", "link_name": "pg_main", "service": "pg_api", "credentials": {"X-Api-Key": "upstream-secret-0001"}}, format="json")
    results: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def hammer():
        session = requests.Session()
        while not stop.is_set():
            try:
                response = session.post(f"{gunicorn}/api/v1/invoke/", json={"connection": "pg_main", "url": "/anything"},
                                        headers={"Authorization": f"Token {admin.token}"}, timeout=20)
                code = response.json().get("error", {}).get("code", "ok") if response.headers.get("content-type", "").startswith("application/json") else "not-json"
                results.append((time.monotonic(), response.status_code, code))
            except requests.RequestException as exc:
                results.append((time.monotonic(), 0, type(exc).__name__))
            time.sleep(0.02)

    worker = threading.Thread(target=hammer)
    worker.start()
    time.sleep(1.5)
    restart_postgres()
    restarted_at = time.monotonic()
    time.sleep(3)
    stop.set()
    worker.join(timeout=30)
    connections.close_all()  # this process's own connection died with the restart

    statuses = {(status, code) for _, status, code in results}
    assert statuses <= {(200, "ok"), (503, "service_unavailable")}, statuses
    after = [status for at, status, _ in results if at > restarted_at + 1.5]
    assert after and all(status == 200 for status in after), "invokes did not recover after the restart"
