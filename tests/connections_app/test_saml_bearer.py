"""RFC 7522 against a real Authlib authorization server whose SAML 2.0 bearer grant verifies
every assertion's XML signature against the client's registered certificate (signxml), its
issuer, audience, recipient and time window: SAP SuccessFactors' way to issue API tokens."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from lxml import etree

from connections_app import tasks
from connections_app.auth.oauth2 import saml_bearer
from connections_app.models import Connection
from tests.factories import new_certificate, oauth2_service
from tests.servers.oauth2_server import SAML2_BEARER

pytestmark = pytest.mark.django_db

API_KEY = "sf-api-key-NjQ2Mzc"  # SuccessFactors' name for the client id


@pytest.fixture
def provider(oauth2_server):
    oauth2_server.saml_company_id = "ACME01"
    return oauth2_server


def saml_service(provider, admin, **oauth2):
    data = oauth2_service(provider, "sf_api", grant_type="saml2_bearer", **oauth2)
    for key in ("authorize_url", "client_id", "client_secret", "revoke_url", "authorize_params"):
        data["oauth2"].pop(key, None)
    data["scopes"] = []
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 201, response.content
    return data


def register(provider, certificate):
    provider.register_client(API_KEY, None, [], token_endpoint_auth_method="none", grant_types=[SAML2_BEARER], certificate=certificate)


def create(admin, credentials):
    response = admin.post("/api/v1/connections/", {
        "name": "SF", "link_name": "sf", "service": "sf_api", "credentials": credentials,
    }, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def key(pem, certificate=None, **more):
    return {"private_key": pem, "client_id": API_KEY, "user_id": "tester@example.com", "company_id": "ACME01",
            **({"certificate": certificate} if certificate else {}), **more}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_a_signed_assertion_gets_a_token_and_the_invoke_works(admin, provider, kind):
    pem, certificate = new_certificate(kind)
    register(provider, certificate)
    saml_service(provider, admin)
    body = create(admin, key(pem, certificate))
    assert body["status"] == "connected" and body["authorize_url"] is None and body["expires_at"]
    answer = admin.post("/api/v1/invoke/", {"connection": "sf", "url": "/api/me"}, format="json").json()
    assert answer["status_code"] == 200 and answer["body"]["user"] == "tester@example.com"
    seen = provider.assertions[-1]
    token_url = f"{provider.url}/oauth/token"
    assert seen["kind"] == "saml" and seen["issuer"] == API_KEY and seen["subject"] == "tester@example.com"
    assert seen["audience"] == token_url and seen["recipient"] == token_url
    assert seen["form"]["client_id"] == API_KEY and seen["form"]["company_id"] == "ACME01"
    assert provider.grant_counts == {SAML2_BEARER: 1}
    shown = admin.get("/api/v1/connections/sf/").content.decode()
    assert pem.splitlines()[2] not in shown and "BEGIN" not in shown


def test_the_assertion_is_short_lived_and_signed_after_its_issuer(provider):
    pem, certificate = new_certificate()
    config = saml_bearer.OAuth2Config(grant_type="saml2_bearer", token_url="https://api4.successfactors.com/oauth/token")
    encoded = saml_bearer.assertion(config, key(pem, certificate))
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded  # base64url, unpadded (RFC 7522)
    root = etree.fromstring(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert [etree.QName(child).localname for child in root][:3] == ["Issuer", "Signature", "Subject"]
    conditions = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Conditions")
    start, end = (timezone.datetime.strptime(conditions.get(k), "%Y-%m-%dT%H:%M:%SZ") for k in ("NotBefore", "NotOnOrAfter"))
    assert timedelta(0) < end - start <= timedelta(minutes=6)


def test_a_wrong_key_is_refused_with_a_clear_error_and_nothing_is_stored(admin, provider):
    pem, _certificate = new_certificate()
    _other, registered = new_certificate()
    register(provider, registered)
    saml_service(provider, admin)
    body = create(admin, key(pem))
    assert body["status"] == "pending" and "invalid_grant" in body["error"] and "Could not fetch a token" in body["error"]
    connection = Connection.objects.get(link_name="sf")
    # Nothing half-stored: no token and no expiry; only the key, kept (encrypted, as for a JWT
    # bearer key) so that the connection can be given a new one or retried.
    assert set(connection.read_secret("credentials")) == {"private_key", "client_id", "user_id", "company_id"}
    assert connection.expires_at is None and connection.status == "pending"
    assert provider.grant_counts[SAML2_BEARER] == 0 and provider.assertions == []


def test_a_certificate_that_is_not_the_keys_is_refused_before_any_call(admin, provider):
    pem, _certificate = new_certificate()
    _other, certificate = new_certificate()
    saml_service(provider, admin)
    response = admin.post("/api/v1/connections/", {"name": "SF", "link_name": "sf", "service": "sf_api",
                                                   "credentials": key(pem, certificate)}, format="json")
    assert response.status_code == 400 and "credentials.certificate" in response.json()["error"]["fields"]
    assert pem.splitlines()[2] not in response.content.decode()
    assert provider.grant_attempts == {} and not Connection.objects.exists()



def test_the_audience_may_be_a_bare_name(admin, provider):
    """SAML's Audience and JWT's aud are URIs or plain names: SuccessFactors is said to expect
    www.successfactors.com; the recipient stays the token URL."""
    pem, certificate = new_certificate()
    register(provider, certificate)
    provider.saml_audiences.append("www.successfactors.com")
    saml_service(provider, admin, assertion_audience="www.successfactors.com")
    assert create(admin, key(pem))["status"] == "connected"
    assert provider.assertions[-1]["audience"] == "www.successfactors.com"
    assert provider.assertions[-1]["recipient"] == f"{provider.url}/oauth/token"


@pytest.mark.parametrize("audience", ["ftp://x.example/", "two words", "https://user:pw@x.example/", "-leading.dash"])
def test_an_audience_that_is_neither_a_url_nor_a_name_is_refused(admin, provider, audience):
    data = oauth2_service(provider, "sf_api", grant_type="saml2_bearer", assertion_audience=audience)
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 400 and "oauth2.assertion_audience" in response.json()["error"]["fields"], response.content

@pytest.mark.parametrize("credentials, field", [
    ({"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "client_id": "c", "user_id": "u"}, "private_key"),
    ({"private_key": "PEMPEMPEM", "client_id": "c", "user_id": "u"}, "private_key"),
    ({"client_id": "c", "user_id": "u"}, "private_key"),
    ({"private_key": "x", "user_id": "u"}, "client_id"),
    ({"private_key": "x", "client_id": "c", "user_id": "u", "issuer": "i"}, "issuer"),
])
def test_bad_keys_are_refused_without_echoing_them(admin, provider, credentials, field):
    saml_service(provider, admin)
    response = admin.post("/api/v1/connections/", {"name": "S", "link_name": "sf", "service": "sf_api", "credentials": credentials}, format="json")
    assert response.status_code == 400 and f"credentials.{field}" in response.json()["error"]["fields"], response.content
    assert "PEMPEMPEM" not in response.content.decode() and "AAAA" not in response.content.decode()


def test_no_refresh_token_a_new_assertion_on_demand_and_from_the_sweep(admin, provider):
    pem, certificate = new_certificate()
    register(provider, certificate)
    saml_service(provider, admin)
    create(admin, key(pem))
    first = Connection.objects.get(link_name="sf").credentials
    assert "refresh_token" not in first
    Connection.objects.filter(link_name="sf").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert admin.post("/api/v1/invoke/", {"connection": "sf", "url": "/api/me"}, format="json").json()["status_code"] == 200
    assert provider.grant_counts[SAML2_BEARER] == 2  # expired: a new assertion, a new token
    connection = Connection.objects.get(link_name="sf")
    assert connection.credentials["access_token"] != first["access_token"] and connection.credentials["private_key"] == pem.strip()
    Connection.objects.filter(link_name="sf").update(
        expires_at=timezone.now() + timedelta(seconds=30), last_refreshed_at=timezone.now() - timedelta(hours=1),
    )
    assert tasks.refresh_one(connection.pk) == "refreshed"
    assert provider.grant_counts[SAML2_BEARER] == 3


def test_the_server_refuses_another_audience_and_a_missing_company(admin, provider):
    pem, certificate = new_certificate()
    register(provider, certificate)
    saml_service(provider, admin, assertion_audience="https://elsewhere.example/oauth/token")
    assert "invalid_grant" in create(admin, key(pem))["error"]
    Connection.objects.all().delete()
    provider.saml_audiences.append("https://elsewhere.example/oauth/token")
    assert create(admin, key(pem, company_id=""))["status"] == "pending"  # no company_id: refused
    Connection.objects.all().delete()
    assert create(admin, key(pem))["status"] == "connected"
