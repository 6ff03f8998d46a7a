"""Issue 12 ("Trust, round 2"), points 10 and 12: one-time connect links survive link-preview
bots; /metrics needs its token in production; OAuth start and sign-in are throttled; a
denial by role leaves an audit event."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from connections_app.models import AuthorizeLink, Event

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def link(admin):
    assert admin.post("/api/v1/services/", {
        "link_name": "acme_oauth", "name": "Acme CRM", "auth_type": "oauth2", "base_url": "https://api.acme.example",
        "oauth2": {"client_id": "cid", "client_secret": "s3cret-client", "authorize_url": "https://auth.acme.example/authorize",
                   "token_url": "https://auth.acme.example/token"},
    }, format="json").status_code == 201
    body = admin.post("/api/v1/connections/", {"name": "Acme main", "link_name": "acme_main", "service": "acme_oauth"}, format="json").json()
    return urlsplit(body["authorize_url"]).path


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()
    yield
    cache.clear()


# -- point 10: link-preview bots and HEAD do not use up a one-time link --------------------
def test_opening_the_link_shows_a_continue_page_and_uses_nothing(link, org):
    bot = Client(HTTP_USER_AGENT="Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")
    for _ in range(3):
        page = bot.get(link)
        assert page.status_code == 200
        html = page.content.decode()
        assert "Acme CRM" in html and org.name in html and "Continue" in html and 'method="post"' in html
        assert "s3cret-client" not in html and "auth.acme.example" not in html
        assert page["Cache-Control"].startswith("no-store") or "no-store" in page["Cache-Control"]
    assert bot.head(link).status_code in (200, 405)
    assert AuthorizeLink.objects.get().used_at is None
    person = Client()
    started = person.post(link)
    assert started.status_code == 302 and started["Location"].startswith("https://auth.acme.example/authorize?")
    assert AuthorizeLink.objects.get().used_at is not None
    again = Client().get(link)
    assert again.status_code == 400 and b"already used" in again.content


def test_the_continue_form_needs_its_csrf_token(link):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(link)
    assert browser.post(link).status_code == 403  # no token: refused, link kept
    assert AuthorizeLink.objects.get().used_at is None
    token = page.content.decode().split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert browser.post(link, {"csrfmiddlewaretoken": token}).status_code == 302


# -- point 12: throttles -------------------------------------------------------------------
def test_oauth_start_is_throttled_per_address(link, settings):
    settings.CONNECTIONS_OAUTH_START_RATE = "3/min"
    browser = Client()
    assert [browser.get(link).status_code for _ in range(3)] == [200, 200, 200]
    refused = browser.post(link)
    assert refused.status_code == 429 and AuthorizeLink.objects.get().used_at is None
    assert Client(REMOTE_ADDR="10.9.8.7").get(link).status_code == 200  # another address has its own budget


def test_sign_in_is_throttled_before_any_password_is_tried(settings, monkeypatch):
    settings.CONNECTIONS_LOGIN_RATE = "3/min"
    get_user_model().objects.create_user("alice", password="right-password-123")
    tried = []
    from django.contrib.auth import forms

    real = forms.authenticate
    monkeypatch.setattr(forms, "authenticate", lambda *a, **k: tried.append(1) or real(*a, **k))
    browser = Client()
    for _ in range(3):
        assert browser.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    blocked = browser.post("/login/", {"username": "alice", "password": "right-password-123"})
    assert blocked.status_code == 429 and b"Too many sign-in attempts" in blocked.content and blocked["Retry-After"]
    assert len(tried) == 3 and "_auth_user_id" not in browser.session
    # The same user name from another address is held back too (per-user budget).
    other = Client(REMOTE_ADDR="10.9.8.7").post("/login/", {"username": "alice", "password": "right-password-123"})
    assert other.status_code == 429


# -- point 12: denials leave an audit event ------------------------------------------------
def test_a_role_denial_leaves_an_audit_event(viewer, org):
    response = viewer.post("/api/v1/services/", {"link_name": "x1", "name": "X"}, format="json")
    assert response.status_code == 403
    event = Event.objects.get(organisation=org, action="access.denied")
    assert event.actor == viewer.user.username and event.target == "/api/v1/services/"
    assert event.data == {"code": "permission_denied", "method": "POST", "role": "viewer"}


# -- point 12: /metrics needs its token in production --------------------------------------
def test_metrics_are_off_without_a_token_when_production_says_so(client, settings):
    settings.CONNECTIONS_METRICS_REQUIRE_TOKEN = True
    settings.CONNECTIONS_METRICS_TOKEN = None
    assert client.get("/metrics").status_code == 404
    settings.CONNECTIONS_METRICS_TOKEN = "metrics-token-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-123").status_code == 200


def test_production_settings_require_the_metrics_token(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "settings.prod", "DJANGO_SECRET_KEY": "k" * 60,
           "CONNECTIONS_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "DJANGO_ALLOWED_HOSTS": "c.example",
           "CONNECTIONS_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    code = "import django; django.setup(); from django.conf import settings as s; print(s.CONNECTIONS_METRICS_REQUIRE_TOKEN)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
