"""Fixtures for integration tests: Redis, real Celery processes, and OAuth 2.0 connections
holding tokens a real provider (tests/servers) issued."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import redis
import requests
from django.utils import timezone

from connections_app.models import Connection, ConnectionStatus
from connections_app.auth.oauth2.answers import credentials_from_token

from .processes import Processes, redis_url


@pytest.fixture(scope="session")
def redis_client():
    url = redis_url()
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_REDIS_URL is not set in CI")
        pytest.skip("TEST_REDIS_URL is not set (scripts/test sets it)")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {url}")
        pytest.skip(f"Redis is not reachable at {url}")
    return client


@pytest.fixture
def celery_processes(redis_client, tmp_path):
    redis_client.flushdb()
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()
    redis_client.flushdb()


CALLBACK = "http://testserver/oauth/callback"


@pytest.fixture
def provider(oauth2_server):
    oauth2_server.auto_approve = True
    oauth2_server.register_client("cnx-client", "client-secret-x1", [CALLBACK], scope="read")
    return oauth2_server


@pytest.fixture
def oauth_service(admin, provider):
    response = admin.post("/api/v1/services/", {
        "link_name": "acme_oauth", "name": "Acme", "auth_type": "oauth2", "base_url": provider.url,
        "allowed_hosts": ["127.0.0.1"], "scopes": [{"name": "read", "display_name": "Read"}],
        "oauth2": {"client_id": "cnx-client", "client_secret": "client-secret-x1",
                   "authorize_url": f"{provider.url}/oauth/authorize", "token_url": f"{provider.url}/oauth/token"},
    }, format="json")
    assert response.status_code == 201, response.content
    return "acme_oauth"


def issue_tokens(provider) -> dict:
    """Run the code grant at the provider (Authlib's client) and return its token answer."""
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session("cnx-client", "client-secret-x1", redirect_uri=CALLBACK, scope="read",
                            token_endpoint_auth_method="client_secret_post")
    url, _ = session.create_authorization_url(f"{provider.url}/oauth/authorize")
    callback = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    return session.fetch_token(f"{provider.url}/oauth/token", authorization_response=callback)


@pytest.fixture
def connect(admin, provider, oauth_service):
    """connect(link_name, expires_in_seconds, lifetime=None) -> a connected OAuth 2.0
    connection with real tokens, expiring in ``expires_in`` seconds. The token was issued
    for ``lifetime`` seconds (default: an hour, or ``expires_in`` if longer): how early it
    counts as due scales with that (tokens.refresh_leeway, refresh_ahead)."""

    def make(link_name: str, expires_in: float = 3600, lifetime: float | None = None) -> Connection:
        response = admin.post("/api/v1/connections/", {"name": link_name, "link_name": link_name, "service": oauth_service,
                                                       "scopes": ["read"]}, format="json")
        assert response.status_code == 201, response.content
        connection = Connection.objects.get(link_name=link_name)
        connection.set_credentials(credentials_from_token(issue_tokens(provider)))
        connection.status = ConnectionStatus.CONNECTED
        connection.expires_at = timezone.now() + timedelta(seconds=expires_in)
        connection.connected_at = connection.expires_at - timedelta(seconds=lifetime or max(3600, expires_in))
        connection.save()
        return connection

    return make
