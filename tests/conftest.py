"""Shared fixtures: organisations, members with roles, and API clients holding their tokens."""

from __future__ import annotations

import functools

import pytest
from rest_framework.test import APIClient

from connections_app.models import Membership, Organisation, Role
from connections_app.services import api_token_create
from tests.factories import make_service
from tests.servers.oauth1_server import create_oauth1_server
from tests.servers.oauth2_server import create_oauth2_server
from tests.servers.runner import serving, start_httpbin, start_wsgi
from tests.servers.sigv4_server import create_sigv4_server
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


def _member(name: str, organisation_fixture: str, role: str, doc: str):
    """A fixture ``name``: an API client of a member with ``role`` in that organisation."""

    def member(request, member_client):
        return member_client(request.getfixturevalue(organisation_fixture), role)

    member.__doc__ = doc
    return pytest.fixture(name=name)(member)


admin = _member("admin", "org", Role.ADMIN, "An admin of Acme.")
developer = _member("developer", "org", Role.DEVELOPER, "A developer of Acme.")
viewer = _member("viewer", "org", Role.VIEWER, "A viewer of Acme.")
outsider = _member("outsider", "other_org", Role.ADMIN, "An admin of another organisation.")


@pytest.fixture
def loopback_service(httpbin_server, _upstream_served):
    """``make_service`` bound to the shared loopback servers: a bare ``127.0.0.1`` or
    ``localhost`` host reaches both httpbin and the upstream."""
    return functools.partial(make_service, ports=(httpbin_server.port, _upstream_served.port))


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
    with serving(*create_oauth2_server()) as control:
        yield control


@pytest.fixture
def oauth1_server():
    """A real OAuth 1.0a provider (Authlib's server side) on loopback, consent auto-approved."""
    with serving(*create_oauth1_server(auto_approve=True)) as control:
        yield control


@pytest.fixture
def sigv4_server():
    """An AWS-style API that verifies Signature V4 for DynamoDB in eu-west-1, on loopback."""
    with serving(*create_sigv4_server(region="eu-west-1", service="dynamodb")) as control:
        yield control
