"""Where the credential goes (value templates, a named token header or query parameter), and
values kept from the provider (token answer, callback) used in the service's URLs; each
checked by what the upstream received."""

from __future__ import annotations

import pytest
from django.test import Client

from connections_app.models import Connection
from tests.factories import (
    CALLBACK,
    CLIENT_SECRET,
    SECRET,
    consent,
    finish,
    invoke,
    make_connection,
    make_service,
    oauth2_service,
    start,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(oauth2_server):
    oauth2_server.auto_approve = True
    oauth2_server.register_client("cnx-client", CLIENT_SECRET, [CALLBACK], scope="read write")
    return oauth2_server


def connect_oauth(admin, provider, *, param_type="header", base_url=None, upstream=None, **oauth2):
    data = oauth2_service(provider, **oauth2)
    data["param_type"] = param_type
    if upstream is not None:  # calls go to the test upstream: name its plain-http origin
        data["allowed_hosts"] = [*data["allowed_hosts"], f"http://127.0.0.1:{upstream.port}"]
    if base_url:
        data["base_url"] = base_url
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 201, response.content
    link = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_oauth", "scopes": ["read"]}, format="json").json()["authorize_url"]
    browser = Client()
    return finish(browser, consent(start(browser, link)))


def test_a_value_template_puts_the_bare_key_into_the_header(admin, upstream):
    make_service(admin, base_url=upstream.url, parameters=[{"key": "Authorization", "display_name": "Secret key", "value_template": "Bearer {value}"}])
    make_connection(admin, "acme_api", credentials={"Authorization": SECRET})
    envelope = invoke(admin, url="/protected/header/Authorization").json()
    assert upstream.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert envelope["status_code"] == 401  # the upstream wants the bare secret: it got the template


def test_a_value_template_in_the_query(admin, upstream):
    make_service(admin, param_type="query", base_url=upstream.url, parameters=[{"key": "auth", "display_name": "Token", "value_template": "Token token={value}"}])
    make_connection(admin, "acme_api", credentials={"auth": SECRET})
    invoke(admin, url="/protected/query/auth", params={"page": "2"})
    assert upstream.requests[-1]["args"] == {"page": "2", "auth": f"Token token={SECRET}"}


@pytest.mark.parametrize("template", ["Bearer", "{value} {value}", "Bearer {key}"])
def test_a_bad_value_template_is_refused(admin, template):
    data = {"link_name": "bad_api", "name": "Bad", "auth_type": "api_key", "base_url": "https://api.bad.example",
            "parameters": [{"key": "Authorization", "value_template": template}]}
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 400 and "parameters[0].value_template" in response.json()["error"]["fields"]


def test_an_access_token_in_a_named_header_with_a_template(admin, provider, upstream):
    connect_oauth(admin, provider, token_header="X-Shopify-Access-Token", token_template="{access_token}", upstream=upstream)
    token = Connection.objects.get(link_name="acme_main").credentials["access_token"]
    envelope = invoke(admin, url=f"{upstream.url}/anything").json()  # 200: no refresh-and-retry
    seen = upstream.requests[-1]["headers"]
    assert seen["X-Shopify-Access-Token"] == token and "Authorization" not in seen
    assert token not in str(envelope)
    response = invoke(admin, url=f"{upstream.url}/anything", headers={"x-shopify-access-token": "mine"})
    assert response.status_code == 400  # the injected header cannot be set by the caller


def test_an_access_token_under_a_named_query_parameter(admin, provider, upstream):
    connect_oauth(admin, provider, param_type="query", token_param="auth_token", upstream=upstream)
    token = Connection.objects.get(link_name="acme_main").credentials["access_token"]
    invoke(admin, url=f"{upstream.url}/anything")
    assert upstream.requests[-1]["args"] == {"auth_token": token}


def test_a_token_template_keeps_the_prefix_placeholder(admin, provider, upstream):
    connect_oauth(admin, provider, token_prefix="Zoho-oauthtoken", token_template="{token_prefix} {access_token}", upstream=upstream)
    token = Connection.objects.get(link_name="acme_main").credentials["access_token"]
    invoke(admin, url=f"{upstream.url}/anything")
    assert upstream.requests[-1]["headers"]["Authorization"] == f"Zoho-oauthtoken {token}"


# -- values kept from the provider ---------------------------------------------------------
def test_instance_url_from_the_token_answer_is_where_invoke_goes(admin, provider, upstream):
    provider.token_response_extra = {"instance_url": upstream.url, "team": {"id": "T0123", "name": "Acme"}}
    response = connect_oauth(
        admin, provider, base_url="{instance_url}/services", keep_from_token_response=["instance_url", "team.id"],
    )
    assert response.status_code == 302, response.content
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.config == {"instance_url": upstream.url, "team_id": "T0123"}
    detail = admin.get("/api/v1/connections/acme_main/").json()
    assert detail["config"] == connection.config and f"{upstream.url}/services" in detail["snippets"]["deluge"]
    browser = Client()
    browser.force_login(admin.user)
    page = browser.get("/connections/acme_main/").content.decode()
    assert upstream.url in page and "T0123" in page  # shown on the connection's page
    envelope = invoke(admin, url="/orders").json()
    assert envelope["status_code"] == 404 and upstream.requests[-1]["path"] == "/services/orders"


def test_a_kept_value_naming_a_host_outside_the_allowed_ones_is_refused(admin, provider, upstream):
    provider.token_response_extra = {"instance_url": "https://attacker.example"}
    response = connect_oauth(admin, provider, base_url="{instance_url}/services", keep_from_token_response=["instance_url"])
    assert response.status_code == 400 and b"allowed hosts" in response.content
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == "pending" and connection.config == {} and not connection.credentials_encrypted
    assert "attacker.example" in connection.error


@pytest.mark.parametrize("value", ["http://127.0.0.1@attacker.example", "https://127.0.0.1/../x?y", "javascript:alert(1)"])
def test_a_kept_value_that_is_not_an_origin_is_refused(admin, provider, value):
    provider.token_response_extra = {"instance_url": value}
    response = connect_oauth(admin, provider, base_url="{instance_url}/services", keep_from_token_response=["instance_url"])
    assert response.status_code == 400
    assert Connection.objects.get(link_name="acme_main").status == "pending"


def test_realm_id_from_the_callback_fills_the_path(admin, provider, upstream):
    provider.callback_extra = {"realmId": "4620816365"}
    response = connect_oauth(admin, provider, base_url=f"{upstream.url}/v3/company/{{realm_id}}", keep_from_callback=["realmId"])
    assert response.status_code == 302, response.content
    assert Connection.objects.get(link_name="acme_main").config == {"realm_id": "4620816365"}
    invoke(admin, url="/query")
    assert upstream.requests[-1]["path"] == "/v3/company/4620816365/query"


def test_a_callback_value_with_path_characters_is_refused(admin, provider, upstream):
    provider.callback_extra = {"realmId": "../../admin"}
    response = connect_oauth(admin, provider, base_url=f"{upstream.url}/v3/company/{{realm_id}}", keep_from_callback=["realmId"])
    assert response.status_code == 400
    assert Connection.objects.get(link_name="acme_main").config == {}


def test_a_provider_value_cannot_name_an_allowed_host(admin, provider):
    data = oauth2_service(provider, keep_from_token_response=["api_domain"])
    data.update(base_url="{api_domain}/crm", allowed_hosts=["{api_domain}"])
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 400 and "allowed_hosts" in str(response.json()["error"]["fields"])
    data = oauth2_service(provider)
    data.update(base_url="{api_domain}/crm")
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 400 and "base_url" in response.json()["error"]["fields"]


def test_user_scopes_go_under_their_parameter_and_the_user_token_is_used(admin, provider, upstream):
    provider.token_response_extra = {
        "authed_user": {"id": "U1", "scope": "search:read", "access_token": "xoxp-user-token-canary-1", "token_type": "user"},
        "team": {"id": "T0123"},
    }
    data = oauth2_service(provider, token_path="authed_user", keep_from_token_response=["team.id"], scope_delimiter=",")
    data["scopes"].append({"name": "search:read", "display_name": "Search", "param": "user_scope"})
    data["allowed_hosts"] = [*data["allowed_hosts"], f"http://127.0.0.1:{upstream.port}"]
    assert admin.post("/api/v1/services/", data, format="json").status_code == 201
    link = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_oauth", "scopes": ["read", "search:read"]}, format="json").json()["authorize_url"]
    browser = Client()
    provider_url = start(browser, link)
    assert "scope=read&" in provider_url and "user_scope=search%3Aread" in provider_url
    assert finish(browser, consent(provider_url)).status_code == 302
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.credentials["access_token"] == "xoxp-user-token-canary-1" and connection.config == {"team_id": "T0123"}
    envelope = invoke(admin, url=f"{upstream.url}/anything").json()
    assert upstream.requests[-1]["headers"]["Authorization"] == "Bearer xoxp-user-token-canary-1"
    assert "xoxp-user-token-canary-1" not in str(envelope)


def test_a_scope_parameter_may_not_be_one_the_flow_sets(admin, provider):
    data = oauth2_service(provider)
    data["scopes"].append({"name": "x", "param": "state"})
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 400 and "scopes[2].param" in response.json()["error"]["fields"]
