"""The catalog contract, run for real: one flow per auth type (and per OAuth 2.0 grant).

Like django-allauth's provider test mixin, one test drives every flow through the same
steps, the product's own: a catalog entry pointing at a local server, the organisation's
client where the type takes one, a connection (with consent where the type needs it), an
invoke; then each flow checks what its server received. The variants come from the auth
registry, so an auth type or grant added without a flow here fails ``test_flow``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, get_args

import pytest
from django.test import Client
from django.utils import timezone

from connections_app.auth.registry import AUTH_TYPES
from connections_app.models import Connection
from tests.catalog_entries import catalog_entry  # noqa: F401  (a fixture)
from tests.factories import CALLBACK, give_consent, invoke, new_certificate, new_key
from tests.servers.oauth2_server import JWT_BEARER, SAML2_BEARER

pytestmark = pytest.mark.django_db

OAUTH1_CALLBACK = "http://testserver/oauth1/callback"
CLIENT_ID, CLIENT_SECRET = "org-client", "org-client-secret-canary-5e1d"


def variants() -> list[tuple[str, str | None]]:
    """Every (auth type, grant) the registry offers: a type whose block declares a
    ``grant_type`` choice counts once per grant."""
    out = []
    for name, auth_type in AUTH_TYPES.items():
        grant = auth_type.section_model.model_fields.get("grant_type") if auth_type.section_model else None
        out += [(name, value) for value in get_args(grant.annotation)] if grant else [(name, None)]
    return out


class Flow:
    """One auth type's part: the server it talks to, the catalog entry and credentials a
    connection gives, the call to make, and what the server must have seen."""

    client: ClassVar[dict | None] = None  # the organisation's client, PUT before connecting
    consents: ClassVar[bool] = False  # whether a connection waits for consent at the provider
    credentials: ClassVar[dict] = {}
    call: ClassVar[dict] = {"url": "/api/me"}

    def __init__(self, request):
        self.request = request

    def entry(self) -> dict:
        raise NotImplementedError

    def check(self, admin, envelope: dict) -> None:
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """What must never show in the answer."""
        raise NotImplementedError


class ApiKeyFlow(Flow):
    """The key travels where the entry says (a header, with its value template)."""

    credentials: ClassVar[dict] = {"Authorization": "api-key-canary-0b7e44"}
    call: ClassVar[dict] = {"url": "/bearer"}

    def entry(self):
        return {"param_type": "header", "base_url": self.request.getfixturevalue("httpbin_server").url,
                "parameters": [{"key": "Authorization", "display_name": "API key", "value_template": "Bearer {value}"}]}

    def check(self, admin, envelope):
        # httpbin answers 200 only with a Bearer token, and echoes it: the envelope shows
        # the echo scrubbed, which it does only for the connection's own secret.
        assert envelope["body"] == {"authenticated": True, "token": "[redacted]"}

    def secrets(self):
        return list(self.credentials.values())


class BasicFlow(Flow):
    """Basic, and an extra secret header beside it (UKG Pro's customer API key)."""

    credentials: ClassVar[dict] = {"username": "alice", "password": "basic-secret-canary-61", "X-Customer-Key": "customer-key-canary-2b"}
    call: ClassVar[dict] = {"url": "/basic-auth/alice/basic-secret-canary-61"}  # 200 only for exactly these

    def entry(self):
        return {"param_type": "header", "base_url": self.request.getfixturevalue("httpbin_server").url,
                "parameters": [{"key": "X-Customer-Key", "display_name": "Customer API key"}]}

    def check(self, admin, envelope):
        assert envelope["body"] == {"authenticated": True, "user": "alice"}
        # httpbin echoes the headers it received; the envelope scrubs the connection's secrets.
        headers = invoke(admin, url="/headers").json()["body"]["headers"]
        assert headers["X-Customer-Key"] == "[redacted]" and headers["Authorization"] == "Basic [redacted]"

    def secrets(self):
        return [self.credentials["password"], self.credentials["X-Customer-Key"]]


class OAuth1Flow(Flow):
    client: ClassVar[dict] = {"consumer_key": CLIENT_ID, "consumer_secret": CLIENT_SECRET}
    consents = True

    def entry(self):
        self.server = self.request.getfixturevalue("oauth1_server")
        self.server.register_client(CLIENT_ID, CLIENT_SECRET, OAUTH1_CALLBACK)
        url = self.server.url
        return {"param_type": "header", "base_url": url, "oauth1": {
            "request_token_url": f"{url}/oauth1/request_token", "authorize_url": f"{url}/oauth1/authorize",
            "access_token_url": f"{url}/oauth1/access_token"}}

    def check(self, admin, envelope):
        assert envelope["body"] == {"user": "tester", "client_id": CLIENT_ID, "signature_method": "HMAC-SHA1", "signature_type": "HEADER"}
        assert self.server.grant_counts == {"request_token": 1, "access_token": 1}

    def secrets(self):
        return [CLIENT_SECRET, Connection.objects.get(link_name="acme_main").credentials["oauth_token_secret"]]


class OAuth2Flow(Flow):
    """The authorization-code grant, then a refresh: the upstream sees each token in turn."""

    grant = "authorization_code"
    client: ClassVar[dict] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    consents = True

    def entry(self):
        self.server = self.request.getfixturevalue("oauth2_server")
        self.server.auto_approve = True
        self.server.register_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK], scope="read write")
        url = self.server.url
        return {"param_type": "header", "base_url": url, "scopes": [{"name": "read"}], "oauth2": {
            "grant_type": self.grant, "authorize_url": f"{url}/oauth/authorize", "token_url": f"{url}/oauth/token"}}

    def check(self, admin, envelope):
        assert envelope["body"] == {"user": "tester", "scope": "read", "client_id": CLIENT_ID, "via": "bearer"}
        first = self.stored_token()
        self.server.revoke_all_access_tokens()  # the provider ends the token early: the upstream says 401
        assert invoke(admin, **self.call).json()["body"]["user"] == "tester"  # refreshed, then retried
        assert self.server.grant_counts == {"authorization_code": 1, "refresh_token": 1}
        assert [r["ok"] for r in self.server.resource_requests] == [True, False, True]
        assert self.stored_token() != first

    def stored_token(self) -> str:
        return Connection.objects.get(link_name="acme_main").credentials["access_token"]

    def secrets(self):
        return [CLIENT_SECRET, self.stored_token()]


class ClientCredentialsFlow(OAuth2Flow):
    """No consent and no person: the product fetches the token, and fetches again when it expires."""

    grant = "client_credentials"
    consents = False

    def entry(self):
        data = super().entry()
        del data["oauth2"]["authorize_url"]
        return data

    def check(self, admin, envelope):
        assert envelope["body"] == {"user": None, "scope": "read", "client_id": CLIENT_ID, "via": "bearer"}
        Connection.objects.filter(link_name="acme_main").update(expires_at=timezone.now() - timedelta(seconds=5))
        assert invoke(admin, **self.call).json()["status_code"] == 200
        assert self.server.grant_counts == {"client_credentials": 2}


class JwtBearerFlow(OAuth2Flow):
    """The connection gives a key; the server verifies the signed assertion (RFC 7523)."""

    grant = "jwt_bearer"
    consents = False
    client: ClassVar[dict | None] = None  # a service account proves itself

    def entry(self):
        data = super().entry()
        self.pem, public = new_key()
        self.server.register_client("robot@acme.example", None, [], scope="read", grant_types=[JWT_BEARER], public_key=public)
        self.credentials = {"private_key": self.pem, "issuer": "robot@acme.example", "subject": "tester@example.com"}
        del data["oauth2"]["authorize_url"]
        return data

    def check(self, admin, envelope):
        assert envelope["body"] == {"user": "tester@example.com", "scope": "read", "client_id": "robot@acme.example", "via": "bearer"}
        claims = self.server.assertions[-1]["claims"]
        assert claims["iss"] == "robot@acme.example" and claims["sub"] == "tester@example.com"
        assert self.server.grant_counts == {JWT_BEARER: 1}

    def secrets(self):
        return [self.pem.splitlines()[3], self.stored_token()]


class Saml2BearerFlow(OAuth2Flow):
    """The connection gives a key; the server verifies the signed SAML assertion (RFC 7522)
    against the certificate registered with the client, as SAP SuccessFactors does."""

    grant = "saml2_bearer"
    consents = False
    client: ClassVar[dict | None] = None  # the assertion (and the client id in the body) proves it

    def entry(self):
        data = super().entry()
        self.pem, certificate = new_certificate()
        self.server.register_client("sf-api-key", None, [], scope="read", token_endpoint_auth_method="none",
                                    grant_types=[SAML2_BEARER], certificate=certificate)
        self.credentials = {"private_key": self.pem, "client_id": "sf-api-key", "user_id": "tester@example.com"}
        del data["oauth2"]["authorize_url"]
        return data

    def check(self, admin, envelope):
        assert envelope["body"] == {"user": "tester@example.com", "scope": "read", "client_id": "sf-api-key", "via": "bearer"}
        seen = self.server.assertions[-1]
        assert seen["kind"] == "saml" and seen["issuer"] == "sf-api-key" and seen["subject"] == "tester@example.com"
        assert self.server.grant_counts == {SAML2_BEARER: 1}

    def secrets(self):
        return [self.pem.splitlines()[3], self.stored_token()]


class AwsSigV4Flow(Flow):
    credentials: ClassVar[dict] = {"access_key_id": "AKIAFLOWTEST00001", "secret_access_key": "aws-secret-canary-3c1f/Zx+q"}
    call: ClassVar[dict] = {"url": "/", "method": "POST", "json": {"TableName": "orders"}, "headers": {"X-Amz-Target": "DynamoDB_20120810.ListTables"}}

    def entry(self):
        self.server = self.request.getfixturevalue("sigv4_server")
        self.server.keys[self.credentials["access_key_id"]] = self.credentials["secret_access_key"]
        return {"param_type": "header", "base_url": self.server.url, "aws": {"service": "dynamodb", "region": "eu-west-1"}}

    def check(self, admin, envelope):
        assert envelope["body"] == {"ok": True, "path": "/", "args": {}}
        seen = self.server.requests[-1]
        assert seen["verdict"] == "ok" and seen["body"] == b'{"TableName": "orders"}'

    def secrets(self):
        return [self.credentials["secret_access_key"]]


FLOWS: dict[tuple[str, str | None], type[Flow]] = {
    ("api_key", None): ApiKeyFlow,
    ("basic", None): BasicFlow,
    ("oauth1", None): OAuth1Flow,
    ("oauth2", "authorization_code"): OAuth2Flow,
    ("oauth2", "client_credentials"): ClientCredentialsFlow,
    ("oauth2", "jwt_bearer"): JwtBearerFlow,
    ("oauth2", "saml2_bearer"): Saml2BearerFlow,
    ("aws_sigv4", None): AwsSigV4Flow,
}


@pytest.mark.parametrize("variant", variants(), ids=lambda v: "-".join(filter(None, v)))
def test_flow(variant, request, admin, catalog_entry):
    flow_class = FLOWS.get(variant)
    assert flow_class, f"{variant} has no flow here: add one (its server, its entry, what the server must see)"
    flow = flow_class(request)
    auth_type, _grant = variant
    entry = catalog_entry({"link_name": "flow_api", "name": "Flow API", "auth_type": auth_type,
                           "allowed_hosts": ["127.0.0.1"], **flow.entry()})
    if flow.client:
        response = admin.put("/api/v1/services/flow_api/client/", flow.client, format="json")
        assert response.status_code == 200, response.content
    connection = {"name": "Flow", "link_name": "acme_main", "service": "flow_api", "credentials": flow.credentials}
    if "scopes" in entry:
        connection["scopes"] = [scope["name"] for scope in entry["scopes"]]
    response = admin.post("/api/v1/connections/", connection, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    if flow.consents:
        assert body["status"] == "pending"
        give_consent(Client(), body["authorize_url"])
    else:
        assert body["status"] == "connected" and body["authorize_url"] is None
    assert Connection.objects.get(link_name="acme_main").status == "connected"
    answer = invoke(admin, **flow.call)
    envelope = answer.json()
    assert envelope["status_code"] == 200, envelope
    for secret in flow.secrets():
        assert secret not in answer.content.decode()
    flow.check(admin, envelope)


def test_every_flow_belongs_to_a_registered_variant():
    assert set(FLOWS) <= set(variants())
