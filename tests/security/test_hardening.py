"""Throttling, a wrong key, the audit trail, cookies and redirects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.test import Client

from connections_app.models import Connection, Event, InvocationLog
from tests.factories import inside_one_window

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api_key_connection(admin, upstream):
    admin.post("/api/v1/services/", {"link_name": "k1", "name": "K", "auth_type": "api_key", "parameters": [{"key": "X-Api-Key", "display_name": "K"}],
                                     "base_url": upstream.url}, format="json")
    admin.post("/api/v1/connections/", {"name": "K", "link_name": "k_main", "service": "k1", "credentials": {"X-Api-Key": "upstream-secret-0001"}}, format="json")


def test_invoke_bursts_are_throttled_per_organisation(admin, outsider, api_key_connection, upstream, settings, monkeypatch):
    settings.CONNECTIONS_INVOKE_RATE = "3/min"
    cache.clear()
    inside_one_window(60)
    codes = [admin.post("/api/v1/invoke/", {"connection": "k_main", "url": "/anything"}, format="json") for _ in range(4)]
    assert [c.status_code for c in codes] == [200, 200, 200, 429]
    assert codes[-1].json()["error"]["code"] == "throttled" and int(codes[-1]["Retry-After"]) >= 1
    # Another organisation has its own budget.
    assert outsider.post("/api/v1/invoke/", {"connection": "nope", "url": "/x"}, format="json").status_code == 404
    cache.clear()


def test_wrong_key_gives_503_and_writes_nothing(admin, api_key_connection, settings):
    before = list(Connection.objects.values())
    logs_before = InvocationLog.objects.count()
    settings.CONNECTIONS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    for response in (
        admin.post("/api/v1/invoke/", {"connection": "k_main", "url": "/anything"}, format="json"),
        admin.post("/api/v1/connections/k_main/test/"),
        admin.patch("/api/v1/connections/k_main/", {"credentials": {"X-Api-Key": "another-value-123"}}, format="json"),
    ):
        assert response.status_code == 503, response.content
        body = response.json()["error"]
        assert body["code"] == "encryption_key_unavailable" and "CONNECTIONS_ENCRYPTION_KEYS" in body["message"]
    assert list(Connection.objects.values()) == before
    assert InvocationLog.objects.count() == logs_before


def test_every_sensitive_action_leaves_an_audit_event(admin, upstream, api_key_connection):
    admin.patch("/api/v1/connections/k_main/", {"credentials": {"X-Api-Key": "rotated-value-12345"}}, format="json")
    admin.post("/api/v1/connections/k_main/revoke/")
    admin.delete("/api/v1/connections/k_main/")
    admin.put("/api/v1/services/github/client/", {"client_id": "gh", "client_secret": "gh-secret-value-1"}, format="json")
    admin.patch("/api/v1/services/k1/", {"name": "K2"}, format="json")
    events = {e.action: e for e in Event.objects.all()}
    for action in ("service.created", "connection.created", "connection.connected", "connection.credentials_changed",
                   "connection.revoked", "connection.deleted", "service.client_set", "service.updated", "token.created"):
        assert action in events, action
        assert events[action].actor and events[action].at
    dump = json.dumps(list(Event.objects.values("actor", "action", "target", "data")))
    for secret in ("upstream-secret-0001", "rotated-value-12345", "gh-secret-value-1"):
        assert secret not in dump


def test_login_next_cannot_redirect_off_site(admin):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="admin-acme")
    user.set_password("pw-for-the-test-1")
    user.save()
    client = Client()
    response = client.post("/login/?next=https://evil.example/x", {"username": "admin-acme", "password": "pw-for-the-test-1",
                                                                     "next": "https://evil.example/x"})
    assert response.status_code == 302 and not response["Location"].startswith("https://evil.example")


def test_oauth_pages_never_honour_next(admin):
    client = Client()
    response = client.get("/oauth/callback", {"state": "x", "next": "https://evil.example"})
    assert response.status_code == 400 and "evil.example" not in response.get("Location", "")
    assert response["Referrer-Policy"] == "no-referrer" and "no-store" in response["Cache-Control"]


def test_prod_cookies_are_secure(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "settings.prod", "DJANGO_SECRET_KEY": "k" * 60,
           "CONNECTIONS_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "DJANGO_ALLOWED_HOSTS": "c.example",
           "CONNECTIONS_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SECURE, s.DEBUG)")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "Lax", "True", "False"]


def test_every_page_form_that_posts_carries_a_csrf_token(admin, api_key_connection):
    import re

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin.user)
    pages = ["/", "/connections/new/", "/connections/k_main/", "/services/", "/tokens/", "/connections/new/k1/", "/connections/new/?tab=custom"]
    checked = 0
    for url in pages:
        response = browser.get(url)
        if response.status_code != 200:
            continue
        html = response.content.decode()
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I):
            if re.search(r'method="?post"?', form, flags=re.I):
                assert "csrfmiddlewaretoken" in form, f"a POST form on {url} has no CSRF token"
                checked += 1
    assert checked >= 3
    # And a POST without the token is refused.
    assert browser.post("/connections/k_main/revoke/").status_code == 403
