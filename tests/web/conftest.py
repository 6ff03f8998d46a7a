"""Fixtures for the browser pages driven through Django's test client."""

from __future__ import annotations

import pytest
from django.test import Client

from connections_app import services
from connections_app.models import Role

SECRET = "key-value-123456789-SECRET"


@pytest.fixture
def web(org, member_client):
    """Return make(role=admin, organisation=org, username=None) -> a signed-in Django Client."""

    def make(role=Role.ADMIN, organisation=None, username=None, enforce_csrf_checks=False):
        api = member_client(organisation or org, role, username=username)
        client = Client(enforce_csrf_checks=enforce_csrf_checks)
        client.force_login(api.user)
        client.user = api.user
        return client

    return make


@pytest.fixture
def admin_web(web):
    return web(Role.ADMIN)


@pytest.fixture
def acme_service(org, admin_web):
    """A custom API key service with two parameters."""
    return services.custom_service_create(organisation=org, actor=admin_web.user, definition=services.custom_service_parse({
        "link_name": "acme_crm", "name": "Acme CRM", "auth_type": "api_key", "param_type": "header",
        "parameters": [{"key": "X-Api-Key", "display_name": "API key"}, {"key": "X-Account", "display_name": "Account"}],
        "base_url": "https://api.acme.example",
    }))


@pytest.fixture
def acme_connection(org, admin_web, acme_service):
    connection, _ = services.connection_create(
        organisation=org, actor=admin_web.user, name="Acme main", link_name="acme_main", service="acme_crm",
        credentials={"X-Api-Key": SECRET, "X-Account": "acct-1"},
    )
    return connection


@pytest.fixture
def other_connection(other_org, member_client):
    """A connection of another organisation, with the same link name as ours would have."""
    user = member_client(other_org, Role.ADMIN).user
    services.custom_service_create(organisation=other_org, actor=user, definition=services.custom_service_parse({
        "link_name": "globex_api", "name": "Globex API", "auth_type": "api_key",
        "parameters": [{"key": "X-Key", "display_name": "Key"}], "base_url": "https://api.globex.example",
    }))
    connection, _ = services.connection_create(
        organisation=other_org, actor=user, name="Globex secret", link_name="globex_main", service="globex_api",
        credentials={"X-Key": "globex-secret-value-000"},
    )
    return connection


def custom_form(**changes) -> dict:
    """The POST body of the custom-service tab: an API key service and its connection."""
    data = {
        "service_name": "Acme API", "service_link_name": "acme_api", "auth_type": "api_key", "param_type": "header",
        "base_url": "https://api.acme.example", "allowed_hosts": "", "sample_url": "", "verify_path": "",
        "oauth2_grant_type": "authorization_code", "oauth2_scope_delimiter": " ", "oauth2_pkce": "on",
        "oauth1_signature_method": "HMAC-SHA1",
        "param-TOTAL_FORMS": "2", "param-INITIAL_FORMS": "0", "param-MIN_NUM_FORMS": "0", "param-MAX_NUM_FORMS": "50",
        "param-0-key": "X-Api-Key", "param-0-display_name": "API key", "param-0-value": SECRET,
        "param-1-key": "", "param-1-display_name": "", "param-1-value": "",
        "scope-TOTAL_FORMS": "1", "scope-INITIAL_FORMS": "0", "scope-MIN_NUM_FORMS": "0", "scope-MAX_NUM_FORMS": "100",
        "scope-0-name": "", "scope-0-display_name": "",
        "name": "Acme main", "link_name": "acme_main", "basic_username": "", "basic_password": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}
