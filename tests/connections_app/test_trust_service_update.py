"""Issue 12, point 2: an admin cannot re-point stored secrets. Widening where a service's
credentials go (hosts, scheme, port, base_url host, token/refresh/revoke URLs, OAuth 1.0a
token URLs, param_type) while connections hold credentials needs the client secret again
(409 otherwise) and asks those connections for their credentials again; narrowing is free."""

import pytest

from connections_app.models import Connection, ConnectionStatus, Event

pytestmark = pytest.mark.django_db
SECRET = "an-api-key-value-0001"


@pytest.fixture
def api_key_connection(admin):
    assert admin.post("/api/v1/services/", {
        "link_name": "acme_crm", "name": "Acme", "auth_type": "api_key", "base_url": "https://api.acme.example",
        "allowed_hosts": ["api.acme.example", "files.acme.example"], "parameters": [{"key": "X-Api-Key", "display_name": "Key"}],
    }, format="json").status_code == 201
    assert admin.post("/api/v1/connections/", {"name": "a", "link_name": "acme_main", "service": "acme_crm",
                                               "credentials": {"X-Api-Key": SECRET}}, format="json").status_code == 201
    return Connection.objects.get(link_name="acme_main")


@pytest.fixture
def oauth_connection(admin):
    assert admin.post("/api/v1/services/", {
        "link_name": "acme_oauth", "name": "Acme", "auth_type": "oauth2", "base_url": "https://api.acme.example",
        "oauth2": {"client_id": "cid", "client_secret": "client-secret-1", "authorize_url": "https://auth.acme.example/a",
                   "token_url": "https://auth.acme.example/token", "revoke_url": "https://auth.acme.example/revoke"},
    }, format="json").status_code == 201
    assert admin.post("/api/v1/connections/", {"name": "o", "link_name": "oauth_main", "service": "acme_oauth"}, format="json").status_code == 201
    connection = Connection.objects.get(link_name="oauth_main")
    connection.set_credentials({"access_token": "at-1", "refresh_token": "rt-1"})
    connection.status = ConnectionStatus.CONNECTED
    connection.save()
    return connection


@pytest.mark.parametrize("change", [
    {"allowed_hosts": ["api.acme.example", "files.acme.example", "evil.example"]},
    {"allowed_hosts": ["*.acme.example"]},
    {"allowed_hosts": ["api.acme.example", "http://files.acme.example"]},
    {"allowed_hosts": ["api.acme.example", "https://files.acme.example:8443"]},
    {"base_url": "https://evil.example", "allowed_hosts": ["evil.example"]},
    {"param_type": "query"},
])
def test_widening_where_credentials_go_asks_for_them_again(admin, org, api_key_connection, change):
    response = admin.patch("/api/v1/services/acme_crm/", change, format="json")
    assert response.status_code == 200, response.content
    row = Connection.objects.get(pk=api_key_connection.pk)
    assert row.status == ConnectionStatus.NEEDS_REAUTH and row.credentials_encrypted == "" and "destinations changed" in row.error
    event = Event.objects.get(organisation=org, action="service.destinations_changed")
    assert event.target == "acme_crm" and event.data["connections_reset"] == 1 and event.data["changes"]
    invoke = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/x"}, format="json")
    assert invoke.status_code == 409 and invoke.json()["error"]["code"] == "connection_not_ready"
    # Entering the credentials again makes it usable.
    assert admin.patch("/api/v1/connections/acme_main/", {"credentials": {"X-Api-Key": SECRET}}, format="json").status_code == 200
    assert Connection.objects.get(pk=api_key_connection.pk).status == ConnectionStatus.CONNECTED


@pytest.mark.parametrize("change", [
    {"allowed_hosts": ["api.acme.example"]},
    {"base_url": "https://api.acme.example/v2"},
    {"name": "Acme renamed"},
])
def test_narrowing_and_harmless_changes_stay_free(admin, org, api_key_connection, change):
    assert admin.patch("/api/v1/services/acme_crm/", change, format="json").status_code == 200
    row = Connection.objects.get(pk=api_key_connection.pk)
    assert row.status == ConnectionStatus.CONNECTED and row.credentials == {"X-Api-Key": SECRET}
    assert not Event.objects.filter(action="service.destinations_changed").exists()


@pytest.mark.parametrize("field", ["token_url", "refresh_url", "revoke_url"])
def test_a_new_token_endpoint_needs_the_client_secret_again(admin, org, oauth_connection, field):
    change = {"oauth2": {field: "https://evil.example/collect"}}
    refused = admin.patch("/api/v1/services/acme_oauth/", change, format="json")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "conflict" and "oauth2.client_secret" in error["fields"] and field in error["message"]
    assert Connection.objects.get(pk=oauth_connection.pk).credentials["refresh_token"] == "rt-1"  # nothing changed
    change["oauth2"]["client_secret"] = "client-secret-2"
    assert admin.patch("/api/v1/services/acme_oauth/", change, format="json").status_code == 200
    row = Connection.objects.get(pk=oauth_connection.pk)
    assert row.status == ConnectionStatus.NEEDS_REAUTH and row.credentials_encrypted == ""
    assert Event.objects.filter(organisation=org, action="service.destinations_changed", target="acme_oauth").count() == 1
    assert Event.objects.filter(organisation=org, action="connection.needs_reauth", target="oauth_main").count() == 1


def test_without_stored_credentials_a_service_changes_freely(admin, oauth_connection):
    Connection.objects.filter(pk=oauth_connection.pk).update(credentials_encrypted="", status=ConnectionStatus.PENDING)
    assert admin.patch("/api/v1/services/acme_oauth/", {"oauth2": {"token_url": "https://auth2.acme.example/t"}}, format="json").status_code == 200
