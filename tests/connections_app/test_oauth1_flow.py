"""OAuth 1.0a against a real provider (Authlib's server side) on loopback."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from connections_app.models import Connection
from tests.factories import give_consent

pytestmark = pytest.mark.django_db

CONSUMER_SECRET = "consumer-secret-canary-91b2"


@pytest.fixture
def provider(oauth1_server):
    oauth1_server.register_client("cnx-consumer", CONSUMER_SECRET, "http://testserver/oauth1/callback")
    return oauth1_server


def setup(admin, provider, *, signature_method="HMAC-SHA1", param_type="header"):
    data = {
        "link_name": "acme_o1", "name": "Acme OAuth1", "auth_type": "oauth1", "param_type": param_type,
        "base_url": provider.url, "allowed_hosts": ["127.0.0.1"],
        "oauth1": {
            "consumer_key": "cnx-consumer", "consumer_secret": CONSUMER_SECRET, "signature_method": signature_method,
            "request_token_url": f"{provider.url}/oauth1/request_token", "authorize_url": f"{provider.url}/oauth1/authorize",
            "access_token_url": f"{provider.url}/oauth1/access_token",
        },
    }
    assert admin.post("/api/v1/services/", data, format="json").status_code == 201
    body = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_o1"}, format="json").json()
    assert body["status"] == "pending"
    return body["authorize_url"]


@pytest.mark.parametrize("signature_method", ["HMAC-SHA1", "HMAC-SHA256", "PLAINTEXT"])
@pytest.mark.parametrize("param_type", ["header", "query", "form"])
def test_connect_and_invoke_signed(admin, provider, signature_method, param_type):
    response = give_consent(Client(), setup(admin, provider, signature_method=signature_method, param_type=param_type))
    assert response.status_code == 302 and response["Location"].startswith("/connections/acme_main/")
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == "connected"
    assert set(connection.credentials) == {"oauth_token", "oauth_token_secret"}
    body = {"connection": "acme_main", "url": "/api/me"}
    if param_type == "form":
        body.update(method="POST", form={"note": "x"})
    envelope = admin.post("/api/v1/invoke/", body, format="json").json()
    assert envelope["status_code"] == 200, envelope
    assert envelope["body"]["signature_method"] == signature_method
    assert envelope["body"]["signature_type"] == {"header": "HEADER", "query": "QUERY", "form": "BODY"}[param_type]
    assert CONSUMER_SECRET not in str(envelope) and connection.credentials["oauth_token_secret"] not in str(envelope)


def test_request_token_carries_the_callback(admin, provider):
    setup(admin, provider)
    browser = Client()
    link = admin.post("/api/v1/connections/acme_main/reconnect/").json()["authorize_url"]
    location = browser.post(urlsplit(link).path)["Location"]
    assert parse_qs(urlsplit(location).query)["oauth_token"]
    assert provider.grant_counts["request_token"] == 1


def test_denied_consent_stores_nothing(admin, provider):
    provider.auto_approve = False
    link = setup(admin, provider)
    browser = Client()
    start = browser.post(urlsplit(link).path)
    token = parse_qs(urlsplit(start["Location"]).query)["oauth_token"][0]
    response = browser.get("/oauth1/callback", {"oauth_token": token, "denied": token})
    assert response.status_code == 400
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == "pending" and connection.credentials_encrypted == "" and connection.error


def test_callback_from_another_browser_is_refused(admin, provider):
    link = setup(admin, provider)
    start = Client().post(urlsplit(link).path)
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_provider.headers["Location"])
    response = Client().get(f"{back.path}?{back.query}")
    assert response.status_code == 400 and provider.grant_counts["access_token"] == 0


def test_unsupported_signature_at_the_provider_is_a_clear_failure(admin, provider):
    provider.signature_methods = ["HMAC-SHA1"]
    link = setup(admin, provider, signature_method="PLAINTEXT")
    response = Client().post(urlsplit(link).path)
    assert response.status_code == 400 and b"could not start" in response.content.lower()
    assert Connection.objects.get(link_name="acme_main").error
