import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from connections_app.models import Membership

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_api_token_prints_only_the_token_and_it_works(capsys):
    call_command("api_token", "carol", "--org", "initech", "--role", "viewer", "--create")
    out = capsys.readouterr().out
    token = out.strip()
    assert out == token + "\n" and token.startswith("cnx_")
    membership = Membership.objects.get(user__username="carol", organisation__slug="initech")
    assert membership.role == "viewer"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/connections/").status_code == 200
    assert client.post("/api/v1/connections/", {}, format="json").status_code == 403


@pytest.mark.django_db
def test_api_token_without_create_refuses_unknown_users():
    with pytest.raises(CommandError):
        call_command("api_token", "nobody", "--org", "nowhere")


@pytest.mark.django_db
def test_role_change_through_the_command(capsys):
    call_command("api_token", "dave", "--org", "initech", "--create")
    call_command("api_token", "dave", "--org", "initech", "--role", "admin")
    assert Membership.objects.get(user__username="dave").role == "admin"


def test_check_deploy_with_prod_settings_has_no_warnings(tmp_path):
    from cryptography.fernet import Fernet

    env = {
        "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "settings.prod", "DJANGO_SECRET_KEY": "x" * 64 + "-prod-secret-Key-123",
        "CONNECTIONS_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "DJANGO_ALLOWED_HOSTS": "connections.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path}/prod.sqlite3", "CONNECTIONS_VAR_DIR": str(tmp_path),
        "CONNECTIONS_BASE_URL": "https://connections.example.com",
    }
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_prod_settings_refuse_to_start_without_secrets(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "settings.prod", "CONNECTIONS_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY is not set" in result.stderr
