"""Snippets: the Deluge text is exact; curl, Python and JavaScript are run for real
against a live server, which invokes a real upstream through the connection."""

import json
import os
import subprocess
import sys

import pytest

from connections_app import snippets

SECRET = "upstream-secret-0001"


def test_deluge_matches_the_contract():
    text = snippets.deluge(link_name="acme_main", url="https://api.acme.example/v1/me", method="GET")
    assert text == (
        'response = invokeurl\n[\n\turl: "https://api.acme.example/v1/me"\n\ttype: GET\n'
        '\tconnection: "acme_main"\n];\ninfo response;'
    )


def test_quotes_in_urls_cannot_break_out():
    built = snippets.build(link_name="x_1", url='https://a.example/?q="\'', base_url="http://h")
    assert '\\"' in built["deluge"]
    assert "'\\''" in built["curl"]


@pytest.fixture
def live_connection(live_server, settings, upstream, member_client, org):
    settings.CONNECTIONS_BASE_URL = live_server.url
    admin = member_client(org)
    admin.post("/api/v1/services/", {
        "link_name": "acme_api", "name": "Acme", "auth_type": "api_key", "param_type": "header",
        "parameters": [{"key": "X-Api-Key", "display_name": "Key"}], "allowed_hosts": [f"http://127.0.0.1:{upstream.port}"],
        "sample_url": f"{upstream.url}/protected/header/X-Api-Key",
    }, format="json")
    response = admin.post("/api/v1/connections/", {"name": "Acme", "link_name": "acme_main", "service": "acme_api", "credentials": {"X-Api-Key": SECRET}}, format="json")
    assert response.status_code == 201
    return response.json()["snippets"], admin.token


def _run(args, token, stdin=None):
    env = {**os.environ, "CONNECTIONS_TOKEN": token}
    result = subprocess.run(args, input=stdin, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_curl_snippet_runs(live_connection):
    snippet_set, token = live_connection
    out = _run(["bash", "-c", snippet_set["curl"]], token)
    envelope = json.loads(out)
    assert envelope["status_code"] == 200 and envelope["body"] == {"ok": True}


@pytest.mark.django_db(transaction=True)
def test_python_snippet_runs(live_connection):
    snippet_set, token = live_connection
    out = _run([sys.executable, "-c", snippet_set["python"]], token)
    assert "'status_code': 200" in out and "'ok': True" in out


@pytest.mark.django_db(transaction=True)
def test_javascript_snippet_runs(live_connection):
    snippet_set, token = live_connection
    out = _run(["node", "-e", snippet_set["javascript"]], token)
    assert "status_code: 200" in out and "ok: true" in out
