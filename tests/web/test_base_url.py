"""The address people use is the address in snippets and redirect URIs (issue 14, point 1)."""

from __future__ import annotations

import pytest

from connections_app.models import Role
from settings import env


@pytest.mark.parametrize(("bind", "expected"), [
    ("127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("0.0.0.0:9000", "http://127.0.0.1:9000"),
    ("[::1]:8080", "http://[::1]:8080"),
    ("localhost", "http://localhost:8000"),
    ("unix:/run/connections.sock", None),
    (None, None),
])
def test_the_base_url_is_derived_from_bind(bind, expected):
    assert env.base_url_from_bind(bind) == expected


def test_an_explicit_base_url_wins_over_bind(monkeypatch):
    monkeypatch.setenv("BIND", "127.0.0.1:8765")
    monkeypatch.delenv("CONNECTIONS_BASE_URL", raising=False)
    assert env.base_url() == "http://127.0.0.1:8765"
    monkeypatch.setenv("CONNECTIONS_BASE_URL", "https://connections.example/")
    assert env.base_url() == "https://connections.example"
    monkeypatch.delenv("BIND")
    monkeypatch.delenv("CONNECTIONS_BASE_URL")
    assert env.base_url() == "http://127.0.0.1:8000"


def test_admins_are_warned_when_the_page_is_served_elsewhere(web, settings):
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
    settings.CONNECTIONS_BASE_URL = "http://127.0.0.1:8000"
    admin, developer = web(Role.ADMIN), web(Role.DEVELOPER)
    html = admin.get("/", HTTP_HOST="127.0.0.1:8765").content.decode()
    assert 'data-testid="base-url-warning"' in html
    assert "<code>http://127.0.0.1:8765</code>" in html and "<code>CONNECTIONS_BASE_URL</code> is <code>http://127.0.0.1:8000</code>" in html
    assert 'data-testid="base-url-warning"' not in developer.get("/", HTTP_HOST="127.0.0.1:8765").content.decode()
    # Served where the setting says (the default port spelled or not): no warning.
    assert 'data-testid="base-url-warning"' not in admin.get("/", HTTP_HOST="127.0.0.1:8000").content.decode()
    settings.CONNECTIONS_BASE_URL = "http://testserver"
    assert 'data-testid="base-url-warning"' not in admin.get("/").content.decode()
    assert 'data-testid="base-url-warning"' not in admin.get("/", HTTP_HOST="testserver:80").content.decode()
