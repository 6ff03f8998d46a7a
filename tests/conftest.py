"""Shared fixtures: organisations, members with roles, and API clients holding their tokens."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from connections_app.models import Membership, Organisation, Role
from connections_app.services import api_token_create
from tests.servers.oauth1_server import create_oauth1_server
from tests.servers.oauth2_server import create_oauth2_server
from tests.servers.runner import start_httpbin, start_wsgi
from tests.upstream import Upstream


@pytest.fixture
def org(db):
    return Organisation.objects.create(slug="acme", name="Acme")


@pytest.fixture
def other_org(db):
    return Organisation.objects.create(slug="globex", name="Globex")


@pytest.fixture
def member_client(db):
    """Return a factory: member_client(org, role, username=None) -> APIClient with a token."""
    from django.contrib.auth import get_user_model

    def make(organisation, role=Role.ADMIN, username=None):
        username = username or f"{role}-{organisation.slug}"
        user, _ = get_user_model().objects.get_or_create(username=username)
        membership, _ = Membership.objects.get_or_create(user=user, organisation=organisation, defaults={"role": role})
        _token, key = api_token_create(membership=membership)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        client.token = key
        client.user = user
        return client

    return make


@pytest.fixture
def admin(org, member_client):
    return member_client(org, Role.ADMIN)


@pytest.fixture
def developer(org, member_client):
    return member_client(org, Role.DEVELOPER)


@pytest.fixture
def viewer(org, member_client):
    return member_client(org, Role.VIEWER)


@pytest.fixture
def outsider(other_org, member_client):
    """An admin of another organisation."""
    return member_client(other_org, Role.ADMIN)


def api_key_service(link_name="acme_crm", *, base_url="https://api.acme.example", param_type="header", keys=("X-Api-Key",), **extra):
    data = {
        "link_name": link_name, "name": "Acme CRM", "auth_type": "api_key", "param_type": param_type,
        "parameters": [{"key": k, "display_name": k} for k in keys], "base_url": base_url,
    }
    data.update(extra)
    return data


def plain_http_entries(hosts, ports) -> list[str]:
    """Allowed-host entries reaching loopback test servers: each bare loopback name becomes
    an explicit ``http://host:port`` entry per port (bare hosts mean https on 443)."""
    out = []
    for host in hosts:
        if host in ("127.0.0.1", "localhost") and "://" not in host:
            out += [f"http://{host}:{port}" for port in ports]
        else:
            out.append(host)
    return out


@pytest.fixture
def loopback_ports(httpbin_server, _upstream_served):
    """The ports of the shared httpbin and upstream servers."""
    return (httpbin_server.port, _upstream_served.port)


@pytest.fixture(scope="session")
def httpbin_server():
    """The PyPI httpbin app served by waitress on loopback."""
    served = start_httpbin()
    yield served
    served.stop()


@pytest.fixture(scope="session")
def _upstream_served():
    upstream = Upstream()
    served = start_wsgi(upstream.app)
    upstream.url = served.url
    upstream.port = served.port
    yield upstream
    served.stop()


@pytest.fixture
def upstream(_upstream_served):
    """A small upstream (tests/upstream.py) with its request log cleared."""
    _upstream_served.reset()
    return _upstream_served


@pytest.fixture
def oauth2_server():
    """A real OAuth 2.0 authorization server (Authlib's server side) on loopback.

    Yields its control object (tests/servers/oauth2_server.py) with ``.url`` and ``.server``.
    """
    app, control = create_oauth2_server()
    server = start_wsgi(app)
    control.url, control.server = server.url, server
    yield control
    server.stop()


@pytest.fixture
def oauth1_server():
    """A real OAuth 1.0a provider (Authlib's server side) on loopback, consent auto-approved."""
    app, control = create_oauth1_server(auto_approve=True)
    server = start_wsgi(app)
    control.url, control.server = server.url, server
    yield control
    server.stop()
