"""Fixtures for production tests: a real OAuth 2.0 provider, connected OAuth connections
holding tokens it really issued, gunicorn servers, and the integration suite's Redis and
Celery fixtures."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from connections_app.models import Connection, ConnectionStatus
from connections_app.tokens import credentials_from_token
from tests.integration.conftest import celery_processes, redis_client  # noqa: F401  (shared fixtures)

from .gunicorn import Gunicorns

CALLBACK = "http://testserver/oauth/callback"


def on_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def postgresql_only(why: str):
    return pytest.mark.skipif(not on_postgresql(), reason=f"needs PostgreSQL ({why}); scripts/test runs it in its PostgreSQL pass")


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
    """connect(link_name, expires_in_seconds) -> a connected OAuth 2.0 connection with real tokens."""

    def make(link_name: str, expires_in: float = 3600) -> Connection:
        response = admin.post("/api/v1/connections/", {"name": link_name, "link_name": link_name, "service": oauth_service,
                                                       "scopes": ["read"]}, format="json")
        assert response.status_code == 201, response.content
        connection = Connection.objects.get(link_name=link_name)
        connection.set_credentials(credentials_from_token(issue_tokens(provider)))
        connection.status = ConnectionStatus.CONNECTED
        connection.connected_at = timezone.now()
        connection.expires_at = timezone.now() + timedelta(seconds=expires_in)
        connection.save()
        return connection

    return make


@pytest.fixture
def gunicorns(tmp_path):
    servers = Gunicorns(tmp_path)
    yield servers
    servers.stop_all()
