"""OAuth 2.0 shapes declared as data in the ``oauth2`` block, each run end to end against
the Authlib server in tests/servers: a redirect URI name sent in place of the callback
(eBay's RuName), token-request parameters from the connection's config (Greenhouse's sub),
headers made from the organisation's client on every call (Etsy's x-api-key)."""

from __future__ import annotations

import pytest
from django.test import Client

from connections_app.models import Connection
from tests.catalog_entries import catalog_entry  # noqa: F401  (a fixture)
from tests.factories import CALLBACK, give_consent, invoke

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = "org-client", "org-client-secret-canary-9d2c"
RUNAME = "Acme_Inc-AcmeInc-Conne-PRD-a1b2c3d4e"


def _entry(server, link_name="shape_api", **oauth2) -> dict:
    url = server.url
    return {"link_name": link_name, "name": "Shape API", "auth_type": "oauth2", "allowed_hosts": ["127.0.0.1"],
            "base_url": url, "scopes": [{"name": "read"}], "default_scopes": ["read"],
            "oauth2": {"authorize_url": f"{url}/oauth/authorize", "token_url": f"{url}/oauth/token", **oauth2}}


def _connect(admin, **extra) -> dict:
    response = admin.post("/api/v1/connections/", {"name": "Shape", "link_name": "acme_main", "service": "shape_api",
                                                  "scopes": ["read"], **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# -- eBay: the RuName travels as redirect_uri ----------------------------------------------
@pytest.fixture
def ebay_like(oauth2_server, catalog_entry, admin):
    """A catalog entry that sends a redirect name; the server knows the RuName only, and
    sends the browser on to the accept URL registered for it: our callback."""
    oauth2_server.auto_approve = True
    oauth2_server.register_client(CLIENT_ID, CLIENT_SECRET, [RUNAME], scope="read", token_endpoint_auth_method="client_secret_basic")
    oauth2_server.redirect_names[RUNAME] = CALLBACK
    catalog_entry(_entry(oauth2_server, uses_redirect_name=True, token_endpoint_auth_method="client_secret_basic"))
    return oauth2_server


def test_the_runame_is_sent_as_redirect_uri_and_the_callback_still_finishes_consent(ebay_like, admin):
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_name": RUNAME}
    response = admin.put("/api/v1/services/shape_api/client/", client, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["oauth2"]["redirect_name"] == RUNAME and response.json()["oauth2"]["uses_redirect_name"] is True
    connection = _connect(admin)
    callback = give_consent(Client(), connection["authorize_url"])
    assert callback.status_code == 302 and Connection.objects.get(link_name="acme_main").status == "connected"
    assert ebay_like.authorization_requests[-1]["args"]["redirect_uri"] == RUNAME
    token_request = ebay_like.token_requests[-1]
    assert token_request["form"]["redirect_uri"] == RUNAME and token_request["client_auth_method"] == "client_secret_basic"
    assert ebay_like.grant_counts == {"authorization_code": 1}
    envelope = invoke(admin, url="/api/me").json()
    assert envelope["status_code"] == 200 and envelope["body"]["user"] == "tester"


def test_a_forged_state_at_the_accept_url_is_still_refused(ebay_like, admin):
    admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                     "redirect_name": RUNAME}, format="json")
    _connect(admin)
    page = Client().get("/oauth/callback?code=abc&state=forged")
    assert page.status_code == 400 and b"Unknown consent" in page.content
    assert ebay_like.token_requests == []


def test_a_client_without_its_runame_is_refused_and_consent_waits(ebay_like, admin):
    response = admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, format="json")
    assert response.status_code == 400 and "redirect_name" in response.json()["error"]["fields"]
    bad = admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                           "redirect_name": "https://evil.example/cb"}, format="json")
    assert bad.status_code == 400 and "redirect_name" in bad.json()["error"]["fields"]


def test_a_service_without_the_option_takes_no_redirect_name(oauth2_server, catalog_entry, admin):
    catalog_entry(_entry(oauth2_server))
    response = admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                                "redirect_name": RUNAME}, format="json")
    assert response.status_code == 400 and response.json()["error"]["fields"]["redirect_name"] == ["Unknown field."]


def test_the_client_page_asks_for_the_runame(ebay_like, admin):
    admin_browser = Client()
    admin_browser.force_login(admin.user)
    page = admin_browser.get("/services/shape_api/client/")
    assert page.status_code == 200 and b'name="redirect_name"' in page.content
    saved = admin_browser.post("/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_name": RUNAME})
    assert saved.status_code == 302
    from connections_app.models import ServiceClient  # noqa: PLC0415

    assert ServiceClient.objects.get(service_link_name="shape_api").redirect_name == RUNAME


def test_a_redirect_name_is_only_for_the_code_grant():
    from services_catalog.schema import SchemaError, ServiceDefinition  # noqa: PLC0415

    data = {"link_name": "x_api", "name": "X", "auth_type": "oauth2", "base_url": "https://api.x.example",
            "oauth2": {"grant_type": "client_credentials", "token_url": "https://x.example/token", "uses_redirect_name": True}}
    with pytest.raises(SchemaError) as caught:
        ServiceDefinition.from_dict(data, source="t")
    assert caught.value.field == "oauth2.uses_redirect_name"


# -- Greenhouse: declared token-request parameters from the connection's config ------------
@pytest.fixture
def greenhouse_like(oauth2_server, catalog_entry, admin):
    """A client-credentials entry whose token requests carry sub = the connection's user_id;
    the server refuses a client-credentials request without the right sub."""
    oauth2_server.register_client(CLIENT_ID, CLIENT_SECRET, [], scope="read", token_endpoint_auth_method="client_secret_basic")
    oauth2_server.required_token_params = {"sub": "4242"}
    entry = _entry(oauth2_server, grant_type="client_credentials", token_endpoint_auth_method="client_secret_basic",
                   token_params={"sub": "{user_id}"})
    del entry["oauth2"]["authorize_url"]
    entry["config_fields"] = [{"name": "user_id", "display_name": "Greenhouse user ID", "pattern": "^[0-9]{1,20}$"}]
    catalog_entry(entry)
    response = admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, format="json")
    assert response.status_code == 200, response.content
    return oauth2_server


def test_the_token_request_carries_sub_from_the_connection_and_the_invoke_works(greenhouse_like, admin):
    connection = _connect(admin, config={"user_id": "4242"})
    assert connection["status"] == "connected", connection
    [token_request] = greenhouse_like.token_requests
    assert token_request["form"]["sub"] == "4242" and token_request["form"]["grant_type"] == "client_credentials"
    assert token_request["client_auth_method"] == "client_secret_basic"
    assert greenhouse_like.grant_counts == {"client_credentials": 1}
    envelope = invoke(admin, url="/api/me").json()
    assert envelope["status_code"] == 200 and envelope["body"]["client_id"] == CLIENT_ID


def test_the_server_refuses_a_wrong_sub(greenhouse_like, admin):
    connection = _connect(admin, config={"user_id": "7"})
    assert connection["status"] != "connected" and greenhouse_like.grant_counts == {}
    assert "invalid_request" in Connection.objects.get(link_name="acme_main").error


def test_a_connection_without_the_user_id_is_refused_with_a_clear_error(greenhouse_like, admin):
    response = admin.post("/api/v1/connections/", {"name": "Shape", "link_name": "acme_main", "service": "shape_api",
                                                  "scopes": ["read"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["config.user_id"] == ["This field is required."]
    assert greenhouse_like.token_requests == []


def test_a_token_param_without_its_config_value_refuses_the_token_request():
    from connections_app.auth.oauth2 import grants  # noqa: PLC0415
    from connections_app.auth.oauth2.config import OAuth2Config  # noqa: PLC0415
    from connections_app.auth.token_calls import RefreshFailed  # noqa: PLC0415

    config = OAuth2Config(grant_type="client_credentials", token_url="https://x.example/token", token_params={"sub": "{user_id}"})
    with pytest.raises(RefreshFailed) as caught:
        grants.token_params(config)
    assert caught.value.terminal and "user_id" in caught.value.message


@pytest.mark.parametrize("params, field", [
    ({"grant_type": "password"}, "oauth2.token_params"), ({"Client_Secret": "x"}, "oauth2.token_params"),
    ({"sub": "{nobody}"}, "oauth2.token_params.sub"), ({"bad name": "x"}, "oauth2.token_params.bad name"),
])
def test_token_params_may_not_override_the_grant_or_name_unknown_values(params, field):
    errors = definition_errors(token_params=params)
    assert field in errors, errors


def definition_errors(**oauth2) -> dict:
    """The errors of a client-credentials service definition with these oauth2 options."""
    from services_catalog.schema import SchemaError, ServiceDefinition  # noqa: PLC0415

    data = {"link_name": "x_api", "name": "X", "auth_type": "oauth2", "base_url": "https://api.x.example",
            "oauth2": {"grant_type": "client_credentials", "token_url": "https://x.example/token", **oauth2}}
    with pytest.raises(SchemaError) as caught:
        ServiceDefinition.from_dict(data, source="t")
    return caught.value.errors


# -- Etsy: the client id and secret in a header on every call --------------------------------
ETSY_SECRET = "etsy-shared-secret-canary-41c7"


@pytest.fixture
def etsy_like(oauth2_server, loopback_service, admin, httpbin_server, upstream):
    """Etsy's shape: a public client (client_id alone at the token endpoint) with PKCE, whose
    id and secret travel together in x-api-key on every call."""
    oauth2_server.auto_approve = True
    oauth2_server.require_pkce = True
    oauth2_server.register_client("etsy-keystring", ETSY_SECRET, [CALLBACK], scope="read", token_endpoint_auth_method="none")
    loopback_service(admin, "shape_api", auth_type="oauth2", base_url=httpbin_server.url, scopes=[{"name": "read"}], oauth2={
        "authorize_url": f"{oauth2_server.url}/oauth/authorize", "token_url": f"{oauth2_server.url}/oauth/token",
        "token_endpoint_auth_method": "none", "client_id": "etsy-keystring", "client_secret": ETSY_SECRET,
        "client_headers": {"x-api-key": "{client_id}:{client_secret}"}})
    give_consent(Client(), _connect(admin)["authorize_url"])
    assert Connection.objects.get(link_name="acme_main").status == "connected"
    [token_request] = oauth2_server.token_requests
    assert token_request["client_auth_method"] == "none" and token_request["form"]["client_id"] == "etsy-keystring"
    assert token_request["form"]["code_verifier"] and "client_secret" not in token_request["form"]
    return oauth2_server


def test_every_call_carries_the_client_header_beside_the_token(etsy_like, admin, upstream):
    answer = invoke(admin, url=f"{upstream.url}/anything")
    assert answer.json()["status_code"] == 200, answer.json()
    seen = upstream.requests[-1]["headers"]
    assert seen["X-Api-Key"] == f"etsy-keystring:{ETSY_SECRET}"
    token = Connection.objects.get(link_name="acme_main").credentials["access_token"]
    assert seen["Authorization"] == f"Bearer {token}"
    assert ETSY_SECRET not in answer.content.decode() and token not in answer.content.decode()


def test_httpbin_sees_both_headers_and_the_echo_is_scrubbed(etsy_like, admin):
    answer = invoke(admin, url="/headers")
    headers = answer.json()["body"]["headers"]
    assert headers["X-Api-Key"] == "[redacted]" and headers["Authorization"].startswith("Bearer ")
    assert ETSY_SECRET not in answer.content.decode()
    service = admin.get("/api/v1/services/shape_api/").json()
    assert service["oauth2"]["client_headers"] == {"x-api-key": "{client_id}:{client_secret}"}
    assert ETSY_SECRET not in str(service)


def test_a_caller_cannot_set_the_client_header(etsy_like, admin):
    answer = invoke(admin, url="/headers", headers={"X-API-Key": "mine"})
    assert answer.status_code == 400 and "headers" in str(answer.json()["error"]["fields"])


@pytest.mark.parametrize("headers, field", [
    ({"x-api-key": "{client_id}:{access_token}"}, "oauth2.client_headers.x-api-key"),
    ({"Authorization": "{client_id}"}, "oauth2.client_headers"), ({"bad header": "x"}, "oauth2.client_headers.bad header"),
])
def test_client_headers_name_only_the_client(headers, field):
    errors = definition_errors(client_headers=headers)
    assert field in errors, errors


# -- Marketo: the client in the token URL's query string -----------------------------------
MARKETO_SECRET = "marketo-secret-canary-e5d1"


@pytest.fixture
def marketo_like(oauth2_server, loopback_service, admin, httpbin_server):
    oauth2_server.register_client("mkto-client", MARKETO_SECRET, [], scope="read", token_endpoint_auth_method="client_secret_query")
    loopback_service(admin, "shape_api", auth_type="oauth2", base_url=oauth2_server.url, scopes=[{"name": "read"}], oauth2={
        "grant_type": "client_credentials", "token_url": f"{oauth2_server.url}/oauth/token",
        "token_endpoint_auth_method": "client_secret_query", "client_id": "mkto-client", "client_secret": MARKETO_SECRET})
    return oauth2_server


def test_the_client_travels_in_the_query_string_and_the_invoke_works(marketo_like, admin):
    connection = _connect(admin)
    assert connection["status"] == "connected", connection
    [token_request] = marketo_like.token_requests
    assert token_request["client_auth_method"] == "client_secret_query"
    # As Marketo documents it: every parameter in the query string, an empty body.
    assert token_request["args"] == {"grant_type": "client_credentials", "scope": "read", "client_id": "mkto-client",
                                     "client_secret": MARKETO_SECRET}
    assert token_request["form"] == {} and "Authorization" not in token_request["headers"]
    envelope = invoke(admin, url="/api/me").json()
    assert envelope["status_code"] == 200 and envelope["body"]["client_id"] == "mkto-client"


def test_the_server_refuses_a_client_registered_for_another_method(oauth2_server, loopback_service, admin):
    oauth2_server.register_client("mkto-client", MARKETO_SECRET, [], scope="read", token_endpoint_auth_method="client_secret_post")
    loopback_service(admin, "shape_api", auth_type="oauth2", base_url=oauth2_server.url, scopes=[{"name": "read"}], oauth2={
        "grant_type": "client_credentials", "token_url": f"{oauth2_server.url}/oauth/token",
        "token_endpoint_auth_method": "client_secret_query", "client_id": "mkto-client", "client_secret": MARKETO_SECRET})
    connection = _connect(admin)
    assert connection["status"] != "connected" and oauth2_server.grant_counts == {}
    assert "invalid_client" in Connection.objects.get(link_name="acme_main").error


def test_a_custom_service_carries_its_runame_beside_its_client(oauth2_server, admin):
    from tests.factories import oauth2_service  # noqa: PLC0415

    without = oauth2_service(oauth2_server, uses_redirect_name=True)
    response = admin.post("/api/v1/services/", without, format="json")
    assert response.status_code == 400 and "oauth2.redirect_name" in response.json()["error"]["fields"]
    with_name = oauth2_service(oauth2_server, uses_redirect_name=True, redirect_name=RUNAME)
    response = admin.post("/api/v1/services/", with_name, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["oauth2"]["redirect_name"] == RUNAME


# -- Keap: the code exchange sends the secret in the body, the refresh sends HTTP Basic -----
@pytest.fixture
def keap_like(oauth2_server, catalog_entry, admin):
    oauth2_server.auto_approve = True
    oauth2_server.register_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK], scope="read",
                                  token_endpoint_auth_method=("client_secret_post", "client_secret_basic"))
    catalog_entry(_entry(oauth2_server, token_endpoint_auth_method="client_secret_post",
                         refresh_endpoint_auth_method="client_secret_basic"))
    response = admin.put("/api/v1/services/shape_api/client/", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, format="json")
    assert response.status_code == 200, response.content
    return oauth2_server


def test_the_refresh_authenticates_the_client_its_own_way(keap_like, admin):
    callback = give_consent(Client(), _connect(admin)["authorize_url"])
    assert callback.status_code == 302 and Connection.objects.get(link_name="acme_main").status == "connected"
    response = admin.post("/api/v1/connections/acme_main/refresh/")
    assert response.status_code == 200, response.content
    assert [(r["grant_type"], r["client_auth_method"]) for r in keap_like.token_requests] == [
        ("authorization_code", "client_secret_post"), ("refresh_token", "client_secret_basic")]
    assert "client_secret" not in keap_like.token_requests[-1]["form"]
    assert invoke(admin, url="/api/me").json()["status_code"] == 200


@pytest.mark.parametrize("oauth2", [
    {"grant_type": "client_credentials", "refresh_endpoint_auth_method": "client_secret_basic"},
    {"token_endpoint_auth_method": "private_key_jwt", "refresh_endpoint_auth_method": "client_secret_basic"},
    {"refresh_endpoint_auth_method": "none"},
])
def test_a_refresh_method_needs_a_secret_sending_code_grant(oauth2):
    from services_catalog.schema import SchemaError, ServiceDefinition  # noqa: PLC0415

    data = {"link_name": "x_api", "name": "X", "auth_type": "oauth2", "base_url": "https://api.x.example",
            "oauth2": {"authorize_url": "https://x.example/authorize", "token_url": "https://x.example/token", **oauth2}}
    with pytest.raises(SchemaError) as caught:
        ServiceDefinition.from_dict(data, source="t")
    assert caught.value.field == "oauth2.refresh_endpoint_auth_method"
