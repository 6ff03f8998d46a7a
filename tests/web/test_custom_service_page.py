"""The "Custom service" tab: a custom service and its connection, saved together or not at all."""

from __future__ import annotations

import re

import pytest

from connections_app.models import AuthorizeLink, Connection, ConnectionStatus, CustomService, Event

from .conftest import SECRET, custom_form
from tests.factories import error_of

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "client-secret-never-shown-000"


def nothing_stored():
    return (
        not CustomService.objects.exists() and not Connection.objects.exists()
        and not Event.objects.filter(action__in=["service.created", "connection.created"]).exists()
    )


def oauth2_form(**changes):
    return custom_form(**{
        "auth_type": "oauth2", "param-0-key": "", "param-0-display_name": "", "param-0-value": "",
        "oauth2_client_id": "cid", "oauth2_client_secret": CLIENT_SECRET,
        "oauth2_authorize_url": "https://auth.acme.example/authorize", "oauth2_token_url": "https://auth.acme.example/token",
        "scope-0-name": "contacts.read", "scope-0-display_name": "Read contacts", **changes,
    })


def test_the_form_has_every_field_of_the_help_page(admin_web):
    html = admin_web.get("/connections/new/?tab=custom").content.decode()
    for name in ("service_name", "service_link_name", "auth_type", "param_type", "param-0-key", "param-0-display_name",
                 "oauth2_client_id", "oauth2_client_secret", "oauth2_authorize_url", "oauth2_token_url",
                 "oauth2_refresh_url", "oauth2_revoke_url", "oauth2_scope_delimiter", "oauth2_pkce", "scope-0-name",
                 "oauth1_consumer_key", "oauth1_request_token_url", "oauth1_signature_method", "base_url",
                 "allowed_hosts", "name", "link_name"):
        assert f'name="{name}"' in html, name
    for label in ("API key", "Basic authentication", "OAuth 1", "OAuth 2", "Query string", "Form data", "Header"):
        assert f">{label}</option>" in html
    # Every visible input has a label.
    for tag, input_id in re.findall(r'(<(?:input|select)[^>]*\bid="(id_[^"]+)")', html):
        if 'type="hidden"' in tag:
            continue
        if "__prefix__" not in input_id:  # template rows are labelled the same way
            assert f'for="{input_id}"' in html, input_id


def test_api_key_service_and_connection_are_created(admin_web):
    response = admin_web.post("/connections/new/", custom_form())
    assert response.status_code == 302 and response["Location"] == "/connections/acme_main/"
    service = CustomService.objects.get()
    assert service.link_name == "acme_api" and service.definition["parameters"] == [{"key": "X-Api-Key", "display_name": "API key", "value_template": "{value}"}]
    assert service.definition["allowed_hosts"] == ["api.acme.example"]
    connection = Connection.objects.get()
    assert connection.custom_service == service and connection.status == ConnectionStatus.CONNECTED
    assert connection.credentials == {"X-Api-Key": SECRET}


def test_basic_service(admin_web):
    response = admin_web.post("/connections/new/", custom_form(**{
        "auth_type": "basic", "param-0-key": "", "param-0-display_name": "", "param-0-value": "",
        "basic_username": "alice", "basic_password": "pa55-word-long",
    }))
    assert response.status_code == 302
    assert Connection.objects.get().credentials == {"username": "alice", "password": "pa55-word-long"}


def test_basic_service_with_an_extra_secret_parameter(admin_web):
    """UKG Pro's shape: Basic, and a customer key header typed in a parameter row; the key is
    stored with the password, encrypted, and never shown again."""
    response = admin_web.post("/connections/new/", custom_form(**{
        "auth_type": "basic", "param-0-key": "US-CUSTOMER-API-KEY", "param-0-display_name": "Customer API key",
        "basic_username": "alice", "basic_password": "pa55-word-long",
    }))
    assert response.status_code == 302, error_summary_of(response)
    service = CustomService.objects.get()
    assert service.definition["parameters"] == [{"key": "US-CUSTOMER-API-KEY", "display_name": "Customer API key", "value_template": "{value}"}]
    assert Connection.objects.get().credentials == {"username": "alice", "password": "pa55-word-long", "US-CUSTOMER-API-KEY": SECRET}
    page = admin_web.get("/connections/acme_main/").content.decode()
    assert "Customer API key" in page and SECRET not in page
    # A row without its value is refused next to the row, and nothing is stored.
    html = admin_web.post("/connections/new/", custom_form(**{
        "auth_type": "basic", "param-0-key": "US-CUSTOMER-API-KEY", "param-0-value": "", "service_link_name": "acme_two",
        "link_name": "acme_two", "basic_username": "alice", "basic_password": "pa55-word-long",
    })).content.decode()
    assert error_of(html, "param-0-value") and CustomService.objects.count() == 1


def error_summary_of(response) -> str:
    return re.sub(r"<[^>]+>", " ", response.content.decode())[:3000] if response.status_code != 302 else ""


def test_oauth2_service_redirects_to_the_authorize_link(admin_web):
    response = admin_web.post("/connections/new/", oauth2_form())
    assert response.status_code == 302 and response["Location"].startswith("http://testserver/oauth/authorize/")
    service = CustomService.objects.get()
    assert service.read_secret("client_secret") == CLIENT_SECRET
    assert service.definition["scopes"] == [{"name": "contacts.read", "display_name": "Read contacts", "param": "scope"}]
    assert service.definition["oauth2"]["pkce"] is True
    connection = Connection.objects.get()
    assert connection.status == ConnectionStatus.PENDING and connection.scopes == ["contacts.read"]
    assert AuthorizeLink.objects.filter(connection=connection).exists()
    start = admin_web.post(response["Location"].removeprefix("http://testserver"))  # Continue
    assert start["Location"].startswith("https://auth.acme.example/authorize?") and "code_challenge=" in start["Location"]


def test_a_failing_connection_leaves_no_service(org, admin_web, acme_connection):
    before = (CustomService.objects.count(), Connection.objects.count(), Event.objects.count())
    # The service is valid; the connection's link name is taken: nothing of either is stored.
    response = admin_web.post("/connections/new/", custom_form(link_name="acme_main"))
    assert response.status_code == 400
    assert "already used by another connection" in error_of(response.content.decode(), "link_name")
    assert (CustomService.objects.count(), Connection.objects.count(), Event.objects.count()) == before
    assert not CustomService.objects.filter(link_name="acme_api").exists()


def test_a_missing_credential_value_leaves_no_service(admin_web):
    response = admin_web.post("/connections/new/", custom_form(**{"param-0-value": ""}))
    html = response.content.decode()
    assert response.status_code == 400 and "This field is required." in error_of(html, "param-0-value")
    assert nothing_stored()


def test_service_errors_go_next_to_their_fields(admin_web):
    taken = admin_web.post("/connections/new/", custom_form(service_link_name="github")).content.decode()
    assert "preconfigured service" in error_of(taken, "service_link_name")
    bad_key = admin_web.post("/connections/new/", custom_form(**{"param-1-key": "bad key!", "param-1-value": "v"})).content.decode()
    assert "Use letters, digits" in error_of(bad_key, "param-1-key")
    no_params = admin_web.post("/connections/new/", custom_form(**{"param-0-key": "", "param-0-display_name": ""})).content.decode()
    assert "at least one parameter" in no_params
    no_host = admin_web.post("/connections/new/", custom_form(base_url="")).content.decode()
    assert "allowed host" in error_of(no_host, "allowed_hosts")
    bad_host = admin_web.post("/connections/new/", custom_form(allowed_hosts="ok.example, bad_host!")).content.decode()
    assert "is not a host name" in error_of(bad_host, "allowed_hosts")
    basic_query = admin_web.post("/connections/new/", custom_form(auth_type="basic", param_type="form")).content.decode()
    assert "Basic authentication travels in a header" in error_of(basic_query, "param_type")
    oauth = admin_web.post("/connections/new/", oauth2_form(oauth2_token_url="not a url")).content.decode()
    assert "absolute http(s) URL" in error_of(oauth, "oauth2_token_url")
    no_secret = admin_web.post("/connections/new/", oauth2_form(oauth2_client_secret="")).content.decode()
    assert "This field is required." in error_of(no_secret, "oauth2_client_secret")
    shape = admin_web.post("/connections/new/", custom_form(service_name="", link_name="Bad")).content.decode()
    assert error_of(shape, "service_name") and error_of(shape, "link_name")  # every mistake at once
    assert nothing_stored()


def test_every_typed_value_comes_back_on_errors_secrets_included_and_nothing_is_stored(admin_web):
    html = admin_web.post("/connections/new/", oauth2_form(oauth2_token_url="bad", name="")).content.decode()
    assert f'value="{CLIENT_SECRET}"' in html
    html = admin_web.post("/connections/new/", custom_form(name="")).content.decode()
    assert f'value="{SECRET}"' in html and 'value="X-Api-Key"' in html and 'value="Acme API"' in html
    html = admin_web.post("/connections/new/", custom_form(auth_type="basic", basic_username="bob", basic_password="basic-pass-kept", name="")).content.decode()
    assert 'value="basic-pass-kept"' in html and 'value="bob"' in html
    assert nothing_stored()
    # A fresh page is empty again: the values lived only in that one response.
    assert SECRET not in admin_web.get("/connections/new/?tab=custom").content.decode()


def test_add_another_row_without_js(admin_web):
    response = admin_web.post("/connections/new/", custom_form(add_param="1", name=""))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="param-TOTAL_FORMS" value="3"' in html and 'name="param-2-key"' in html
    assert "errorlist" not in html  # the round trip is not a save: no errors yet
    assert f'value="{SECRET}"' in html  # typed values, the secret too, survive the round trip
    assert nothing_stored()
    scopes = admin_web.post("/connections/new/", custom_form(add_scope="1")).content.decode()
    assert 'name="scope-TOTAL_FORMS" value="2"' in scopes
    assert nothing_stored()


def test_removed_rows_are_left_out(admin_web):
    response = admin_web.post("/connections/new/", custom_form(**{
        "param-1-key": "X-Other", "param-1-value": "x", "param-1-DELETE": "on",
    }))
    assert response.status_code == 302
    assert [p["key"] for p in CustomService.objects.get().definition["parameters"]] == ["X-Api-Key"]


def test_tampered_management_form_is_an_error_not_a_crash(admin_web):
    data = custom_form()
    del data["param-TOTAL_FORMS"]
    response = admin_web.post("/connections/new/", data)
    assert response.status_code == 400 and nothing_stored()


def test_oauth1_service_redirects_to_the_authorize_link(admin_web):
    response = admin_web.post("/connections/new/", custom_form(**{
        "auth_type": "oauth1", "param-0-key": "", "param-0-display_name": "", "param-0-value": "",
        "oauth1_consumer_key": "ck", "oauth1_consumer_secret": "consumer-secret-never-shown",
        "oauth1_request_token_url": "https://auth.acme.example/request_token",
        "oauth1_authorize_url": "https://auth.acme.example/authorize",
        "oauth1_access_token_url": "https://auth.acme.example/access_token", "oauth1_signature_method": "HMAC-SHA256",
        # Scope rows are an OAuth 2 thing: ignored for OAuth 1.
        "scope-0-name": "ignored",
    }))
    assert response.status_code == 302 and response["Location"].startswith("http://testserver/oauth/authorize/")
    service = CustomService.objects.get()
    assert service.definition["oauth1"]["signature_method"] == "HMAC-SHA256" and service.definition["scopes"] == []
    assert service.read_secret("client_secret") == "consumer-secret-never-shown"
    assert Connection.objects.get().status == ConnectionStatus.PENDING


# -- issue 14: all problems at once, the same rules as invoke, readable rows -----------------------
def test_one_submit_reports_every_problem_at_once(org, admin_web, acme_connection):
    """Service, rows and connection problems, and both link names, in the first answer."""
    html = admin_web.post("/connections/new/", oauth2_form(
        service_name="", service_link_name="github", oauth2_client_id="", oauth2_token_url="",
        oauth2_authorize_url="not a url", link_name="acme_main", **{"scope-0-name": "two words"},
    )).content.decode()
    assert "This field is required." in error_of(html, "service_name")
    assert "preconfigured service" in error_of(html, "service_link_name")
    assert "This field is required." in error_of(html, "oauth2_client_id")
    assert "This field is required." in error_of(html, "oauth2_token_url")
    assert "absolute http(s) URL" in error_of(html, "oauth2_authorize_url")
    assert "white space" in error_of(html, "scope-0-name")
    assert "already used by another connection" in error_of(html, "link_name")
    api_key = admin_web.post("/connections/new/", custom_form(
        base_url="ftp://files.example", **{"param-0-value": "", "param-1-key": "X-Api-Key", "param-1-value": "v"},
    )).content.decode()
    assert "absolute http(s) URL" in error_of(api_key, "base_url")
    assert "This field is required." in error_of(api_key, "param-0-value")
    assert "Duplicate key" in error_of(api_key, "param-1-key")
    basic = admin_web.post("/connections/new/", custom_form(auth_type="basic", basic_username="", basic_password="")).content.decode()
    assert error_of(basic, "basic_username") and error_of(basic, "basic_password")
    assert not CustomService.objects.filter(link_name="acme_api").exists()


@pytest.mark.parametrize(("field", "value", "words"), [
    ("base_url", "https://api.acme.example:8443/v1", "Port 8443 is not allowed"),
    ("base_url", "http://10.1.2.3/api", "Private, loopback and link-local addresses are not allowed"),
    ("base_url", "http://localhost:9000/", "not allowed"),
    ("allowed_hosts", "api.acme.example 192.168.1.20", "192.168.1.20: Private, loopback"),
    ("oauth2_token_url", "https://auth.acme.example:4443/token", "Port 4443 is not allowed"),
])
def test_upstream_rules_of_invoke_are_checked_at_save_time_and_name_the_setting(admin_web, settings, field, value, words):
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = False
    form = oauth2_form if field.startswith("oauth2") else custom_form
    html = admin_web.post("/connections/new/", form(**{field: value})).content.decode()
    error = error_of(html, field)
    assert words in error and "CONNECTIONS_ALLOW_PRIVATE_NETWORKS=1" in error
    assert nothing_stored()
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = True  # allowed: the same input saves
    assert admin_web.post("/connections/new/", form(**{field: value})).status_code == 302


def test_oauth_services_are_saved_and_connected_with_one_button(admin_web):
    assert ">Save</button>" in admin_web.get("/connections/new/?tab=custom").content.decode()
    html = admin_web.post("/connections/new/", oauth2_form(oauth2_client_id="")).content.decode()
    assert re.search(r'<button type="submit" class="primary" name="save"[^>]*>Save and Connect</button>', html)
    response = admin_web.post("/connections/new/", oauth2_form())
    assert response.status_code == 302 and "/oauth/authorize/" in response["Location"]  # straight to consent


def test_rows_have_distinct_labels_and_the_summary_links_each_field(admin_web):
    page = admin_web.get("/connections/new/?tab=custom").content.decode()
    assert '<label for="id_param-0-key">Parameter 1 key</label>' in page
    assert '<label for="id_param-1-key">Parameter 2 key</label>' in page
    assert '<label for="id_param-1-value">Parameter 2 value for this connection</label>' in page
    assert '<label for="id_scope-1-name">Scope 2 name</label>' in page
    assert "<span>Parameter key</span>" in page  # the column heading stays short
    assert "Parameter __number__ key" in page  # the template app.js numbers when it adds a row
    html = admin_web.post("/connections/new/", custom_form(service_name="", **{"param-0-value": ""})).content.decode()
    summary = re.search(r'data-testid="error-summary">(.*?)</div>', html, re.S).group(1)
    assert '<a href="#id_service_name">Service name</a>: This field is required.' in summary
    assert '<a href="#id_param-0-value">Parameter 1 value for this connection</a>: This field is required.' in summary


def test_a_type_whose_connection_types_its_own_credentials_gets_them_from_the_registry(admin_web):
    """AWS Signature V4: its block (signing name, region) and its credentials (access key id,
    secret, session token) come from the auth type; no page names them."""
    aws = {"auth_type": "aws_sigv4", "param-0-key": "", "param-0-display_name": "", "param-0-value": "",
           "aws_service": "s3", "aws_region": "eu-west-1", "aws_sigv4_access_key_id": "AKIAEXAMPLE000000000",
           "aws_sigv4_secret_access_key": "aws-secret-never-shown-0000", "aws_sigv4_session_token": ""}
    html = admin_web.post("/connections/new/", custom_form(**{**aws, "aws_region": "", "aws_sigv4_secret_access_key": ""})).content.decode()
    assert "This field is required." in error_of(html, "aws_region")
    assert "This field is required." in error_of(html, "aws_sigv4_secret_access_key")
    assert nothing_stored()
    response = admin_web.post("/connections/new/", custom_form(**aws))
    assert response.status_code == 302
    assert CustomService.objects.get().definition["aws"] == {"service": "s3", "region": "eu-west-1"}
    connection = Connection.objects.get()
    assert connection.credentials == {"access_key_id": "AKIAEXAMPLE000000000", "secret_access_key": "aws-secret-never-shown-0000"}
    assert connection.status == ConnectionStatus.CONNECTED
