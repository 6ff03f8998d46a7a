"""Health probes, request ids, JSON logs and metrics, in process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import OperationalError
from prometheus_client import REGISTRY

from connections_app.observability import health
from connections_app.observability.logging import JsonFormatter, RequestIdFilter
from tests.factories import SECRET, make_connection, make_service

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api_key_conn(admin, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- probes ------------------------------------------------------------------------------
def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_and_keys(client, api_key_conn, settings):
    settings.REDIS_URL = None
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "skipped", "encryption": "ok"}}


def test_readyz_fails_when_stored_secrets_do_not_decrypt(client, api_key_conn, settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # a valid key, but not theirs
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["encryption"] == "failed: stored secrets do not decrypt"


def test_readyz_fails_on_a_malformed_key(client, settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["encryption"] == "failed: keys unusable"


def test_readyz_fails_when_redis_is_down_and_says_no_more(client, settings):
    settings.REDIS_URL = "redis://:hunter2-password@127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "failed: ConnectionError"
    assert b"hunter2" not in response.content


def test_readyz_pings_redis_when_configured(client, settings, redis_client):
    settings.REDIS_URL = os.environ["TEST_REDIS_URL"]
    assert client.get("/readyz").json()["checks"]["redis"] == "ok"


def test_readyz_fails_when_the_database_is_down(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("could not connect to server: password=secret")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed: OperationalError"
    assert b"secret" not in response.content


def test_probes_skip_host_validation_and_the_https_redirect(client, settings):
    # Probes and Prometheus reach the container by its address over plain HTTP.
    settings.ALLOWED_HOSTS = ["connections.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/metrics", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/api/v1/connections/", HTTP_HOST="10.1.2.3:8000").status_code == 400


# -- request ids and logs ----------------------------------------------------------------
class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def collected():
    handler = Collect()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


def test_a_request_id_is_made_returned_and_logged(admin, collected):
    response = admin.get("/api/v1/connections/nope/")
    rid = response["X-Request-ID"]
    assert response.status_code == 404 and len(rid) == 32
    not_found = [r for r in collected if r.name == "django.request"]
    assert not_found and all(r.request_id == rid for r in not_found)
    logging.getLogger("after").warning("outside any request")
    assert collected[-1].request_id is None


def test_a_plain_request_id_from_the_proxy_is_kept_and_a_forged_one_replaced(admin):
    assert admin.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.1").get("X-Request-ID") == "lb-7f3a.1"
    forged = admin.get("/healthz", HTTP_X_REQUEST_ID='x" level=ERROR {"a":1}')["X-Request-ID"]
    assert forged != 'x" level=ERROR {"a":1}' and len(forged) == 32
    assert len(admin.get("/healthz", HTTP_X_REQUEST_ID="a" * 500)["X-Request-ID"]) == 32
    assert admin.get("/healthz", HTTP_X_REQUEST_ID="abc\n")["X-Request-ID"] != "abc\n"


def test_json_formatter_writes_one_object_per_record():
    record = logging.LogRecord("connections_app.tokens", logging.WARNING, __file__, 1, "refresh of %s failed", (7,), None)
    record.request_id = "rid-1"
    record.connection_id = 7
    record.request = object()  # objects are left out: their repr could carry a query string
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "refresh of 7 failed" and entry["level"] == "WARNING"
    assert entry["logger"] == "connections_app.tokens" and entry["request_id"] == "rid-1"
    assert entry["connection_id"] == 7 and "request" not in entry and "ValueError: boom" in entry["exc"]


def test_json_formatter_turns_gunicorn_access_atoms_into_fields_without_secrets():
    atoms = {"m": "GET", "U": "/oauth/callback", "q": "code=CODE-SECRET&state=S", "s": "302", "B": 0, "M": 12,
             "h": "10.0.0.1", "a": "curl/8", "{authorization}i": "Token cnx_SECRET", "{x-request-id}o": "rid-9"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(r)s", (atoms,), None)
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["path"] == "/oauth/callback" and entry["status"] == 302 and entry["request_id"] == "rid-9"
    assert entry["duration_ms"] == 12 and entry["method"] == "GET"
    assert "SECRET" not in line


def test_production_settings_log_json_lines(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "settings.prod", "DJANGO_SECRET_KEY": "k" * 60,
        "CONNECTIONS_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "DJANGO_ALLOWED_HOSTS": "connections.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path}/prod.sqlite3", "CONNECTIONS_VAR_DIR": str(tmp_path),
    }
    code = "import logging; logging.getLogger('connections_app.x').warning('hello %s', 'there', extra={'n': 1})"
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello there" and entry["logger"] == "connections_app.x" and entry["n"] == 1


def test_development_settings_keep_plain_logs():
    from django.conf import settings

    assert settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
