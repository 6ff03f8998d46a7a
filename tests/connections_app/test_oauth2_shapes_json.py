"""``token_request_format: json``: the token requests (code exchange, refresh, client
credentials) carry their parameters as one JSON object, for a provider whose token endpoint
reads only JSON (monday.com's OAuth 2.1 endpoint, as its own material shows it). Run end to
end against the Authlib server in tests/servers with its token endpoint set to take a JSON
object body only and refuse a form, so an entry without the option fails there."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from connections_app.models import Connection
from tests.catalog_entries import catalog_entry  # noqa: F401  (a fixture)
from tests.connections_app.test_oauth2_shapes import CLIENT_ID, CLIENT_SECRET, _connect, _entry, definition_errors
from tests.factories import CALLBACK, give_consent, invoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_only(oauth2_server):
    """A provider whose token endpoint reads only a JSON object body (PKCE required)."""
    oauth2_server.auto_approve = True
    oauth2_server.require_pkce = True
    oauth2_server.token_request_format = "json"
    return oauth2_server


def _service(server, catalog_entry, admin, method="client_secret_post", **oauth2):
    server.register_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK], scope="read", token_endpoint_auth_method=method)
    entry = _entry(server, token_endpoint_auth_method=method, revoke_url=f"{server.url}/oauth/revoke", **oauth2)
    catalog_entry(entry)
    response = admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, format="json")
    assert response.status_code == 200, response.content


def _consent(admin) -> Connection:
    give_consent(Client(), _connect(admin)["authorize_url"])
    return Connection.objects.get(link_name="acme_main")


def test_the_code_exchange_and_the_refresh_travel_as_json_and_the_invoke_works(json_only, catalog_entry, admin):
    _service(json_only, catalog_entry, admin, token_request_format="json")
    assert _consent(admin).status == "connected"
    [exchange] = json_only.token_requests
    assert exchange["headers"]["Content-Type"] == "application/json" and exchange["form"] == {}
    assert exchange["json"] == {"grant_type": "authorization_code", "code": exchange["json"]["code"], "redirect_uri": CALLBACK,
                                "code_verifier": exchange["json"]["code_verifier"], "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert len(exchange["json"]["code_verifier"]) >= 43
    assert invoke(admin, url="/api/me").json()["body"]["user"] == "tester"
    before = Connection.objects.get(link_name="acme_main").credentials["refresh_token"]

    json_only.revoke_all_access_tokens()  # the next call is refused once, so invoke refreshes and retries
    envelope = invoke(admin, url="/api/me").json()
    assert envelope["status_code"] == 200 and envelope["body"]["client_id"] == CLIENT_ID
    refresh = json_only.token_requests[-1]
    assert refresh["headers"]["Content-Type"] == "application/json" and refresh["form"] == {}
    assert refresh["json"] == {"grant_type": "refresh_token", "refresh_token": before,
                               "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert json_only.grant_counts == {"authorization_code": 1, "refresh_token": 1}
    assert Connection.objects.get(link_name="acme_main").credentials["refresh_token"] != before  # rotated and saved


def test_the_same_entry_without_the_option_is_refused_by_the_json_only_endpoint(json_only, catalog_entry, admin, caplog):
    _service(json_only, catalog_entry, admin)
    with caplog.at_level(logging.DEBUG):
        connection = _consent(admin)
    assert connection.status != "connected" and "invalid_request" in connection.error
    [sent] = json_only.token_requests
    assert sent["json"] is None and sent["form"]["client_secret"] == CLIENT_SECRET  # a form, refused
    assert json_only.grant_counts == {}
    assert CLIENT_SECRET not in connection.error and CLIENT_SECRET not in caplog.text


def test_client_secret_basic_keeps_its_header_and_revocation_stays_a_form(json_only, catalog_entry, admin):
    _service(json_only, catalog_entry, admin, method="client_secret_basic", token_request_format="json")
    assert _consent(admin).status == "connected"
    [exchange] = json_only.token_requests
    assert exchange["client_auth_method"] == "client_secret_basic" and exchange["headers"]["Authorization"].startswith("Basic ")
    assert set(exchange["json"]) == {"grant_type", "code", "redirect_uri", "code_verifier"}
    credentials = Connection.objects.get(link_name="acme_main").credentials
    assert admin.delete("/api/v1/connections/acme_main/").status_code == 204
    revocations = json_only.revocation_requests
    assert [r["form"]["token"] for r in revocations] == [credentials["refresh_token"], credentials["access_token"]]
    assert all(r["status"] == 200 and r["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded") for r in revocations)


def test_a_private_key_jwt_assertion_joins_the_json_object(json_only, admin):
    from tests.factories import new_key, oauth2_service  # noqa: PLC0415

    pem, public = new_key()
    json_only.register_client("cnx-client", None, [CALLBACK], scope="read", token_endpoint_auth_method="private_key_jwt", public_key=public)
    data = oauth2_service(json_only, token_endpoint_auth_method="private_key_jwt", token_request_format="json", client_private_key=pem)
    del data["oauth2"]["client_secret"]
    assert admin.post("/api/v1/services/", data, format="json").status_code == 201
    link = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_oauth", "scopes": ["read"]},
                      format="json").json()["authorize_url"]
    give_consent(Client(), link)
    assert Connection.objects.get(link_name="acme_main").status == "connected"
    [exchange] = json_only.token_requests
    assert exchange["client_auth_method"] == "private_key_jwt" and exchange["form"] == {}
    assert exchange["json"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert json_only.assertions[-1]["kind"] == "client" and json_only.assertions[-1]["claims"]["sub"] == "cnx-client"


def test_client_credentials_with_token_params_as_json(json_only, catalog_entry, admin):
    """The declared token_params join the grant's own parameters in the JSON object."""
    json_only.register_client(CLIENT_ID, CLIENT_SECRET, [], scope="read")
    json_only.required_token_params = {"sub": "4242"}
    entry = _entry(json_only, grant_type="client_credentials", token_request_format="json", token_params={"sub": "{user_id}"})
    del entry["oauth2"]["authorize_url"]
    entry["config_fields"] = [{"name": "user_id", "display_name": "User ID", "pattern": "^[0-9]{1,20}$"}]
    catalog_entry(entry)
    admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, format="json")
    assert _connect(admin, config={"user_id": "4242"})["status"] == "connected"
    [token_request] = json_only.token_requests
    assert token_request["json"] == {"grant_type": "client_credentials", "scope": "read", "sub": "4242",
                                     "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert invoke(admin, url="/api/me").json()["body"]["client_id"] == CLIENT_ID


@pytest.mark.parametrize("oauth2, message", [
    ({"token_request_format": "xml"}, "Must be one of"),
    ({"token_request_format": "json", "grant_type": "jwt_bearer"}, "Only the authorization_code and client_credentials"),
    ({"token_request_format": "json", "token_endpoint_auth_method": "client_secret_query"}, "client_secret_query"),
])
def test_the_format_is_checked_with_the_block(oauth2, message):
    errors = definition_errors(**oauth2)
    assert message in errors["oauth2.token_request_format"][0], errors


def test_the_schema_publishes_the_choice_and_defaults_to_form():
    from connections_app.auth.oauth2.config import OAuth2Config  # noqa: PLC0415

    published = OAuth2Config.model_json_schema()["properties"]["token_request_format"]
    assert published["enum"] == ["form", "json"] and published["default"] == "form"
