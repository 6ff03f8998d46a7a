"""Faults: the provider or the API down or answering garbage, a key rotation killed half way.
Clear errors, no status flapping, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection as db
from django.utils import timezone

from connections_app import crypto
from connections_app.models import Connection, ConnectionStatus
from connections_app.auth.oauth2.answers import credentials_from_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def provider(oauth2_server):
    oauth2_server.register_client("cnx", "client-secret-f1", ["http://testserver/oauth/callback"], scope="read")
    return oauth2_server


@pytest.fixture
def oauth_connection(admin, provider):
    """A connected OAuth 2.0 connection whose token has just expired."""
    admin.post("/api/v1/services/", {
        "link_name": "f_oauth", "name": "F", "auth_type": "oauth2", "base_url": provider.url, "allowed_hosts": ["127.0.0.1"],
        "oauth2": {"client_id": "cnx", "client_secret": "client-secret-f1", "authorize_url": f"{provider.url}/oauth/authorize",
                   "token_url": f"{provider.url}/oauth/token"},
    }, format="json")
    admin.post("/api/v1/connections/", {"name": "F", "link_name": "f_main", "service": "f_oauth"}, format="json")
    connection = Connection.objects.get(link_name="f_main")
    connection.set_credentials(credentials_from_token({"access_token": "stale-access-1", "refresh_token": "some-refresh-1"}))
    connection.status = ConnectionStatus.CONNECTED
    connection.expires_at = timezone.now() - timedelta(seconds=5)
    connection.save()
    return connection


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["down", "500", "html", "garbage_json", "huge"])
def test_refresh_faults_give_clear_errors_and_change_no_status(admin, provider, oauth_connection, fault):
    before = Connection.objects.get(pk=oauth_connection.pk).credentials
    if fault == "down":
        provider.server.stop()
    else:
        provider.set_token_fault(fault)
    for _ in range(2):  # twice: the second answer is the same, the status does not flap
        response = admin.post("/api/v1/invoke/", {"connection": "f_main", "url": "/api/me"}, format="json")
        assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
        row = Connection.objects.get(pk=oauth_connection.pk)
        assert row.status == ConnectionStatus.CONNECTED and row.credentials == before
        assert row.error.startswith("The token expired and refreshing has failed since")
    assert row.refresh_failing_since is not None


@pytest.mark.django_db
def test_api_down_is_a_clear_upstream_error(admin):
    admin.post("/api/v1/services/", {"link_name": "gone", "name": "Gone", "auth_type": "api_key", "parameters": [{"key": "k", "display_name": "K"}],
                                     "base_url": "http://127.0.0.1:9"}, format="json")
    admin.post("/api/v1/connections/", {"name": "G", "link_name": "gone_main", "service": "gone", "credentials": {"k": "v" * 16}}, format="json")
    response = admin.post("/api/v1/invoke/", {"connection": "gone_main", "url": "/x"}, format="json")
    assert response.status_code == 502 and response.json()["error"] == {"code": "upstream_error", "message": "The external service could not be reached."}
    assert Connection.objects.get(link_name="gone_main").status == ConnectionStatus.CONNECTED


@pytest.mark.django_db(transaction=True)
def test_a_key_rotation_killed_half_way_loses_nothing_and_resumes(org, tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    from django.test import override_settings

    with override_settings(CONNECTIONS_ENCRYPTION_KEYS=[old]):
        rows = []
        for i in range(3000):
            conn = Connection(organisation=org, link_name=f"r{i:05d}", name="R", service_link_name="stripe", status="connected")
            conn.set_credentials({"Authorization": f"Bearer secret-{i:05d}-xxxxxxxx"})
            rows.append(conn)
        Connection.objects.bulk_create(rows)
    s = db.settings_dict
    url = f"sqlite:///{s['NAME']}" if db.vendor == "sqlite" else f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test", "DATABASE_URL": url,
           "TEST_ENCRYPTION_KEYS": f"{new},{old}"}
    code = (
        "import django, os; django.setup(); from django.conf import settings; "
        "settings.CONNECTIONS_ENCRYPTION_KEYS = os.environ['TEST_ENCRYPTION_KEYS'].split(','); "
        "from django.core.management import call_command; call_command('rotate_encryption_keys', '--batch-size', '50')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    with override_settings(CONNECTIONS_ENCRYPTION_KEYS=[new, old]):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = sum(crypto.is_current(t) for t in Connection.objects.values_list("credentials_encrypted", flat=True))
            if done >= 200 or proc.poll() is not None:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        tokens = list(Connection.objects.order_by("link_name").values_list("link_name", "credentials_encrypted"))
        partial = sum(crypto.is_current(t) for _, t in tokens)
        assert 0 < partial, "the rotation should have committed some batches before it was killed"
        for conn in Connection.objects.filter(organisation=org).order_by("link_name"):
            assert conn.credentials == {"Authorization": f"Bearer secret-{conn.link_name[1:]}-xxxxxxxx"}
        from django.core.management import call_command

        call_command("rotate_encryption_keys", stdout=open(os.devnull, "w"))  # resumes where it stopped
    with override_settings(CONNECTIONS_ENCRYPTION_KEYS=[new]):
        assert all(crypto.is_current(t) for t in Connection.objects.values_list("credentials_encrypted", flat=True))
        sample = Connection.objects.get(link_name="r02999")
        assert sample.credentials == {"Authorization": "Bearer secret-02999-xxxxxxxx"}
