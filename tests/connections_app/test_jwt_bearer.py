"""RFC 7523 against a real Authlib authorization server that verifies every assertion with
the client's public key: the JWT bearer grant (service accounts) and ``private_key_jwt``
client authentication."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from connections_app import tasks
from connections_app.models import Connection
from tests.catalog_entries import catalog_entry  # noqa: F401  (a fixture)
from tests.factories import CALLBACK, consent, finish, new_key, oauth2_service, start
from tests.servers.oauth2_server import JWT_BEARER

pytestmark = pytest.mark.django_db

ISSUER = "robot@acme-project.iam.example"


@pytest.fixture
def provider(oauth2_server):
    oauth2_server.auto_approve = True
    return oauth2_server


def jwt_service(provider, admin, **oauth2):
    data = oauth2_service(provider, "robot_api", grant_type="jwt_bearer", **oauth2)
    for key in ("authorize_url", "client_id", "client_secret", "revoke_url", "authorize_params"):
        data["oauth2"].pop(key, None)
    data["oauth2"].update(oauth2)
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 201, response.content
    return data


def key_file(provider, pem, key_id="key-1") -> str:
    return json.dumps({
        "type": "service_account", "project_id": "acme", "private_key_id": key_id, "private_key": pem,
        "client_email": ISSUER, "client_id": "1234", "token_uri": f"{provider.url}/oauth/token",
    })


def create(admin, credentials, scopes=("read",)):
    response = admin.post("/api/v1/connections/", {
        "name": "Robot", "link_name": "robot", "service": "robot_api", "scopes": list(scopes), "credentials": credentials,
    }, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_service_account_key_file_gets_a_token_and_calls(admin, provider):
    pem, public = new_key()
    provider.register_client(ISSUER, None, [], scope="read write", grant_types=[JWT_BEARER], public_key=public)
    jwt_service(provider, admin, assertion_scope="claim")
    body = create(admin, {"service_account_json": key_file(provider, pem), "subject": "tester@example.com"})
    assert body["status"] == "connected" and body["authorize_url"] is None and body["expires_at"]
    assert provider.grant_counts[JWT_BEARER] == 1
    verified = provider.assertions[-1]
    assert verified["kind"] == "grant" and verified["header"] == {"typ": "JWT", "alg": "RS256", "kid": "key-1"}
    claims = verified["claims"]
    assert claims["iss"] == ISSUER and claims["sub"] == "tester@example.com" and claims["scope"] == "read"
    assert claims["aud"] == f"{provider.url}/oauth/token" and claims["exp"] - claims["iat"] <= 60 and claims["jti"]
    assert "scope" not in provider.token_requests[-1]["form"]  # Google reads it from the claim
    envelope = admin.post("/api/v1/invoke/", {"connection": "robot", "url": "/api/me"}, format="json").json()
    assert envelope["status_code"] == 200 and envelope["body"]["user"] == "tester@example.com"
    detail = admin.get("/api/v1/connections/robot/").content.decode()
    assert "PRIVATE KEY" not in detail and pem[40:80] not in detail


def test_a_pem_key_with_an_ec_signature_and_a_form_scope(admin, provider):
    pem, public = new_key("ec")
    provider.register_client("consumer-key-1", None, [], scope="read write", grant_types=[JWT_BEARER], public_key=public)
    jwt_service(provider, admin, assertion_algorithm="ES256")
    create(admin, {"private_key": pem, "issuer": "consumer-key-1", "subject": "tester@example.com"})
    assert provider.assertions[-1]["header"] == {"typ": "JWT", "alg": "ES256"}
    assert provider.token_requests[-1]["form"]["scope"] == "read"
    assert Connection.objects.get(link_name="robot").status == "connected"


def test_a_key_the_server_does_not_trust_is_refused(admin, provider):
    pem, _public = new_key()
    _other, public = new_key()
    provider.register_client(ISSUER, None, [], scope="read", grant_types=[JWT_BEARER], public_key=public)
    jwt_service(provider, admin)
    body = create(admin, {"service_account_json": key_file(provider, pem)})
    assert body["status"] == "pending" and "invalid_grant" in body["error"]
    assert provider.grant_counts[JWT_BEARER] == 0


def test_the_token_is_fetched_again_on_demand_and_by_the_sweep(admin, provider):
    pem, public = new_key()
    provider.register_client(ISSUER, None, [], scope="read", grant_types=[JWT_BEARER], public_key=public)
    jwt_service(provider, admin)
    create(admin, {"service_account_json": key_file(provider, pem)})
    first = Connection.objects.get(link_name="robot").credentials["access_token"]
    Connection.objects.filter(link_name="robot").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert admin.post("/api/v1/invoke/", {"connection": "robot", "url": "/api/me"}, format="json").json()["status_code"] == 200
    assert provider.grant_counts[JWT_BEARER] == 2  # expired: a new assertion, a new token
    connection = Connection.objects.get(link_name="robot")
    assert connection.credentials["access_token"] != first and connection.credentials["service_account_json"]
    # An hour-long token with 30 s left: well inside the sweep's window (half its lifetime at most).
    Connection.objects.filter(link_name="robot").update(
        expires_at=timezone.now() + timedelta(seconds=30), last_refreshed_at=timezone.now() - timedelta(hours=1),
    )
    assert tasks.refresh_one(connection.pk) == "refreshed"
    assert provider.grant_counts[JWT_BEARER] == 3


@pytest.mark.parametrize("credentials, field", [
    ({"service_account_json": "{not json"}, "service_account_json"),
    ({"service_account_json": json.dumps({"client_email": "x"})}, "service_account_json"),
    ({"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "issuer": "i"}, "private_key"),
    ({"private_key": "PEMPEMPEM"}, "private_key"),
    ({}, "private_key"),
])
def test_bad_keys_are_refused_without_echoing_them(admin, provider, credentials, field):
    jwt_service(provider, admin)
    response = admin.post("/api/v1/connections/", {"name": "R", "link_name": "robot", "service": "robot_api", "credentials": credentials}, format="json")
    assert response.status_code == 400 and f"credentials.{field}" in response.json()["error"]["fields"]
    assert "PEMPEMPEM" not in response.content.decode() and "AAAA" not in response.content.decode()


def test_a_key_file_naming_another_token_endpoint_is_refused(admin, provider):
    pem, _public = new_key()
    jwt_service(provider, admin)
    other = json.loads(key_file(provider, pem))
    other["token_uri"] = "https://elsewhere.example/token"
    response = admin.post("/api/v1/connections/", {"name": "R", "link_name": "robot", "service": "robot_api", "credentials": {"service_account_json": json.dumps(other)}}, format="json")
    assert response.status_code == 400 and "token_uri" in response.json()["error"]["fields"]["credentials.service_account_json"][0]


# -- private_key_jwt (RFC 7523 section 2.2) ----------------------------------------------
def test_private_key_jwt_authenticates_the_client_in_the_code_flow(admin, provider):
    pem, public = new_key()
    provider.register_client("cnx-client", None, [CALLBACK], scope="read write", token_endpoint_auth_method="private_key_jwt", public_key=public)
    data = oauth2_service(provider, token_endpoint_auth_method="private_key_jwt", client_key_id="client-key-7")
    del data["oauth2"]["client_secret"]
    data["oauth2"]["client_private_key"] = pem
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 201, response.content
    assert "client_private_key" not in response.json()["oauth2"] and response.json()["oauth2"]["has_client_secret"]
    link = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_oauth", "scopes": ["read"]}, format="json").json()["authorize_url"]
    browser = Client()
    response = finish(browser, consent(start(browser, link)))
    assert response.status_code == 302, response.content
    request = provider.token_requests[-1]
    assert request["client_auth_method"] == "private_key_jwt" and "client_secret" not in request["form"]
    verified = provider.assertions[-1]
    assert verified["kind"] == "client" and verified["header"]["kid"] == "client-key-7"
    assert verified["claims"]["iss"] == verified["claims"]["sub"] == "cnx-client"
    Connection.objects.filter(link_name="acme_main").update(expires_at=timezone.now())
    assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"] == 200
    assert provider.grant_counts["refresh_token"] == 1 and provider.token_requests[-1]["client_auth_method"] == "private_key_jwt"


def test_private_key_jwt_with_a_key_the_server_does_not_hold_is_refused(admin, provider):
    pem, _public = new_key()
    _other, public = new_key()
    provider.register_client("cnx-client", None, [CALLBACK], scope="read", token_endpoint_auth_method="private_key_jwt", grant_types=["client_credentials"], public_key=public)
    data = oauth2_service(provider, token_endpoint_auth_method="private_key_jwt", grant_type="client_credentials")
    del data["oauth2"]["client_secret"], data["oauth2"]["authorize_url"]
    data["oauth2"]["client_private_key"] = pem
    assert admin.post("/api/v1/services/", data, format="json").status_code == 201
    body = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_oauth", "scopes": ["read"]}, format="json").json()
    assert body["status"] == "pending" and "invalid_client" in body["error"]


def test_a_fetched_token_keeps_the_instance_url_and_invoke_goes_there(admin, provider, upstream):
    pem, public = new_key()
    provider.register_client("consumer-key-1", None, [], scope="read", grant_types=[JWT_BEARER], public_key=public)
    provider.token_response_extra = {"instance_url": upstream.url}
    data = jwt_service(provider, admin, keep_from_token_response=["instance_url"])
    admin.patch("/api/v1/services/robot_api/", {"base_url": "{instance_url}/services", "allowed_hosts": ["127.0.0.1"]}, format="json")
    body = create(admin, {"private_key": pem, "issuer": "consumer-key-1", "subject": "tester@example.com"})
    assert body["status"] == "connected" and body["config"] == {"instance_url": upstream.url}, data
    admin.post("/api/v1/invoke/", {"connection": "robot", "url": "/anything"}, format="json")
    assert upstream.requests[-1]["path"] == "/services/anything"


def test_an_organisation_sets_a_private_key_client_for_a_catalog_entry(admin, provider, catalog_entry):
    pem, public = new_key()
    provider.register_client("org-client", None, [], scope="read", token_endpoint_auth_method="private_key_jwt",
                             grant_types=["client_credentials"], public_key=public)
    catalog_entry({
        "link_name": "pkj_api", "name": "PKJ", "auth_type": "oauth2", "base_url": provider.url, "allowed_hosts": ["127.0.0.1"],
        "scopes": [{"name": "read"}],
        "oauth2": {"grant_type": "client_credentials", "token_url": f"{provider.url}/oauth/token", "token_endpoint_auth_method": "private_key_jwt"},
    })
    response = admin.put("/api/v1/services/pkj_api/client/", {"client_id": "org-client", "client_secret": "a-secret"}, format="json")
    assert response.status_code == 400 and "client_private_key" in response.json()["error"]["fields"]
    response = admin.put("/api/v1/services/pkj_api/client/", {"client_id": "org-client", "client_private_key": pem}, format="json")
    assert response.status_code == 200, response.content
    assert pem_line(pem) not in response.content.decode()
    body = admin.post("/api/v1/connections/", {"name": "P", "link_name": "pkj", "service": "pkj_api", "scopes": ["read"]}, format="json").json()
    assert body["status"] == "connected" and provider.token_requests[-1]["client_auth_method"] == "private_key_jwt"


def pem_line(pem: str) -> str:
    """A line of the key, to look for in answers."""
    return pem.splitlines()[3]


def test_a_page_shows_who_a_key_signs_as_and_nothing_of_the_key():
    from connections_app.auth.oauth2.jwt_bearer import key_hints

    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSi\n-----END PRIVATE KEY-----\n"
    key_file = json.dumps({"client_email": "robot@acme.iam.example", "private_key_id": "0123456789abcdef", "private_key": pem})
    assert key_hints({"service_account_json": key_file, "subject": "ana@acme.example"}) == [
        ("Service account key file", ""), ("Signs as", "robot@acme.iam.example"), ("Acts as", "ana@acme.example"),
        ("Key id", "…cdef"),
    ]
    assert key_hints({"private_key": pem, "issuer": "client-7"}) == [("Private key (PEM)", ""), ("Signs as", "client-7")]
