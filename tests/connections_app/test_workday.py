"""Workday (services_catalog/providers/workday.yaml): the authorize URL is a URL field (a config
field with url_hosts), the Authorization Endpoint a tenant shows on View API Clients. Run end to end against
the Authlib server in tests/servers with the shipped entry pointed at it; and with the
shipped entry itself up to the redirect to Workday."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from django.test import Client

from connections_app.models import Connection
from services_catalog import registry
from tests.catalog_entries import catalog_entry  # noqa: F401  (a fixture)
from tests.factories import CALLBACK, consent, finish, invoke, start

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = "workday-api-client", "workday-client-secret-canary-5e1b"
TENANT = "acme_dpt1"


def _shipped() -> dict:
    return yaml.safe_load((registry.BUILTIN_DIR / "workday.yaml").read_text(encoding="utf-8"))


def _workday():
    return registry.load_file(registry.BUILTIN_DIR / "workday.yaml")


@pytest.fixture
def workday_local(oauth2_server, catalog_entry, admin):
    """The shipped entry with only what points at the network moved to the local server: the
    REST host, the token URL and the hosts the Authorization Endpoint may name."""
    oauth2_server.auto_approve = True
    oauth2_server.register_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK], token_endpoint_auth_method="client_secret_post")
    port = urlsplit(oauth2_server.url).port
    entry = _shipped()
    fields = {f["name"]: f for f in entry["config_fields"]}
    fields["host"]["pattern"] = r"^127\.0\.0\.1$"
    fields["authorization_endpoint"]["url_hosts"] = [f"http://127.0.0.1:{port}"]
    entry.update(link_name="workday_local", base_url=f"http://{{host}}:{port}", docs_url="https://example.com/docs")
    entry["oauth2"]["token_url"] = f"{oauth2_server.url}/oauth/token"
    catalog_entry(entry)
    response = admin.put("/api/v1/services/workday_local/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                         format="json")
    assert response.status_code == 200, response.content
    return oauth2_server


def _create(admin, service: str, **config):
    return admin.post("/api/v1/connections/", {"name": "Workday", "link_name": "acme_main", "service": service,
                                               "config": config}, format="json")


def test_consent_callback_token_invoke_and_refresh_with_the_tenants_authorization_endpoint(workday_local, admin):
    endpoint = f"{workday_local.url}/oauth/authorize"
    response = _create(admin, "workday_local", host="127.0.0.1", tenant=TENANT, authorization_endpoint=endpoint)
    assert response.status_code == 201, response.content
    browser = Client()
    provider_url = start(browser, response.json()["authorize_url"])
    assert provider_url.startswith(endpoint + "?")
    callback = finish(browser, consent(provider_url))
    assert callback.status_code == 302 and Connection.objects.get(link_name="acme_main").status == "connected"

    # Workday's documented authorize request: no scope (the API client's functional areas), no PKCE.
    args = workday_local.authorization_requests[-1]["args"]
    assert {"response_type", "client_id", "redirect_uri", "state"} <= set(args)
    assert not {"scope", "code_challenge", "code_challenge_method"} & set(args)
    [token_request] = workday_local.token_requests
    assert token_request["client_auth_method"] == "client_secret_post"
    assert token_request["form"]["grant_type"] == "authorization_code"

    envelope = invoke(admin, url="/api/me").json()
    assert envelope["status_code"] == 200 and envelope["body"]["client_id"] == CLIENT_ID
    assert CLIENT_SECRET not in str(envelope)

    refreshed = admin.post("/api/v1/connections/acme_main/refresh/")
    assert refreshed.status_code == 200, refreshed.content
    assert workday_local.token_requests[-1]["form"]["grant_type"] == "refresh_token"
    assert invoke(admin, url="/api/me").json()["status_code"] == 200


@pytest.mark.parametrize("endpoint", [
    "https://evil.example/acme_dpt1/authorize",       # not the hosts the field names
    "http://127.0.0.1:1/oauth/authorize",             # another port
    "http://evil.example@127.0.0.1/oauth/authorize",  # a user name
    "/oauth/authorize",                               # not a whole URL
])
def test_an_authorization_endpoint_elsewhere_is_refused_before_consent(workday_local, admin, endpoint):
    response = _create(admin, "workday_local", host="127.0.0.1", tenant=TENANT, authorization_endpoint=endpoint)
    assert response.status_code == 400
    assert "config.authorization_endpoint" in response.json()["error"]["fields"]
    assert workday_local.authorization_requests == [] and not Connection.objects.filter(link_name="acme_main").exists()


def test_the_shipped_entry_sends_the_browser_to_the_endpoint_the_tenant_shows(admin):
    admin.put("/api/v1/services/workday/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, format="json")
    endpoint = "https://impl.workday.com/acme_dpt1/authorize"
    response = _create(admin, "workday", host="wd2-impl-services1.workday.com", tenant=TENANT, authorization_endpoint=endpoint)
    assert response.status_code == 201, response.content
    provider_url = start(Client(), response.json()["authorize_url"])
    assert provider_url.startswith(endpoint + "?")
    query = parse_qs(urlsplit(provider_url).query)
    assert query["client_id"] == [CLIENT_ID] and query["redirect_uri"] == [CALLBACK] and "scope" not in query
    service = _workday().with_config({"host": "wd2-impl-services1.workday.com", "tenant": TENANT,
                                                      "authorization_endpoint": endpoint})
    assert service.oauth2.token_url == "https://wd2-impl-services1.workday.com/ccx/oauth2/acme_dpt1/token"


@pytest.mark.parametrize("config, field", [
    ({"authorization_endpoint": "http://impl.workday.com/acme_dpt1/authorize"}, "authorization_endpoint"),  # plain http
    ({"authorization_endpoint": "https://impl.workday.com.evil.example/authorize"}, "authorization_endpoint"),
    ({"authorization_endpoint": "https://impl.workday.com/acme_dpt1/authorize?x=1"}, "authorization_endpoint"),
    ({"host": "wd2-impl-services1.workday.com.evil.example"}, "host"),
    ({"tenant": "acme/../x"}, "tenant"),
])
def test_the_shipped_entry_takes_workday_hosts_only(config, field):
    good = {"host": "impl-services1.wd101.myworkday.com", "tenant": "hack116_wcpdev1",
            "authorization_endpoint": "https://impl.wd101.myworkday.com/hack116_wcpdev1/authorize"}
    workday = _workday()
    assert workday.config_errors(good) == {}
    assert list(workday.config_errors({**good, **config})) == [f"config.{field}"]
