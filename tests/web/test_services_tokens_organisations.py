"""Services (custom services, OAuth clients), API tokens and the organisation switcher."""

from __future__ import annotations

import re

import pytest

from connections_app import services
from connections_app.models import ApiToken, CustomService, Membership, Role, ServiceClient, sha256_hex

from tests.factories import error_of

pytestmark = pytest.mark.django_db


def edit_form(**changes):
    data = {
        "service_name": "Acme CRM", "auth_type": "api_key", "param_type": "header",
        "base_url": "https://api.acme.example", "allowed_hosts": "", "sample_url": "", "verify_path": "",
        "oauth2_grant_type": "authorization_code", "oauth2_scope_delimiter": " ", "oauth1_signature_method": "HMAC-SHA1",
        "param-TOTAL_FORMS": "2", "param-INITIAL_FORMS": "2", "param-MIN_NUM_FORMS": "0", "param-MAX_NUM_FORMS": "50",
        "param-0-key": "X-Api-Key", "param-0-display_name": "API key",
        "param-1-key": "X-Account", "param-1-display_name": "Account",
        "scope-TOTAL_FORMS": "0", "scope-INITIAL_FORMS": "0", "scope-MIN_NUM_FORMS": "0", "scope-MAX_NUM_FORMS": "100",
    }
    data.update(changes)
    return data


# -- custom services ---------------------------------------------------------------------------
def test_services_page_lists_custom_services_and_oauth_clients(org, admin_web, acme_connection):
    services.service_client_set(organisation=org, actor=admin_web.user, link_name="github", client_id="gh-client-id", client_secret="gh-secret-value")
    html = admin_web.get("/services/").content.decode()
    assert "Acme CRM" in html and "<code>acme_crm</code>" in html and "1 connection" in html
    assert "/services/acme_crm/edit/" in html and "/services/acme_crm/delete/" in html
    row = re.search(r'<tr id="client-github">(.*?)</tr>', html, re.S).group(1)
    assert "gh-client-id" in row and ">yes<" in row
    assert "gh-secret-value" not in html
    assert ">no<" in re.search(r'<tr id="client-zoho">(.*?)</tr>', html, re.S).group(1)


def test_edit_custom_service(admin_web, acme_service):
    page = admin_web.get("/services/acme_crm/edit/").content.decode()
    assert 'value="Acme CRM"' in page and 'value="X-Account"' in page and 'name="service_link_name"' not in page
    response = admin_web.post("/services/acme_crm/edit/", edit_form(service_name="Acme CRM v2", **{"param-1-DELETE": "on"}))
    assert response.status_code == 302, response.content.decode()
    service = CustomService.objects.get()
    assert service.name == "Acme CRM v2" and [p["key"] for p in service.definition["parameters"]] == ["X-Api-Key"]


def test_edit_errors_show_next_to_fields(admin_web, acme_service):
    response = admin_web.post("/services/acme_crm/edit/", edit_form(base_url="ftp://nope"))
    assert response.status_code == 400 and "absolute http(s) URL" in error_of(response.content.decode(), "base_url")


def test_edit_keeps_the_client_secret_when_left_empty(org, admin_web):
    services.custom_service_create(organisation=org, actor=admin_web.user, definition=services.custom_service_parse({
        "link_name": "acme_oauth", "name": "Acme OAuth", "auth_type": "oauth2", "base_url": "https://api.acme.example",
        "oauth2": {"client_id": "cid", "client_secret": "kept-client-secret", "authorize_url": "https://a.example/auth",
                   "token_url": "https://a.example/token"},
    }))
    page = admin_web.get("/services/acme_oauth/edit/").content.decode()
    assert "kept-client-secret" not in page and "Leave empty to keep the secret" in page and 'value="cid"' in page
    response = admin_web.post("/services/acme_oauth/edit/", edit_form(
        service_name="Acme OAuth", auth_type="oauth2", oauth2_client_id="cid2", oauth2_client_secret="",
        oauth2_authorize_url="https://a.example/auth", oauth2_token_url="https://a.example/token", oauth2_pkce="on",
        **{"param-TOTAL_FORMS": "0", "param-INITIAL_FORMS": "0"},
    ))
    assert response.status_code == 302, response.content.decode()
    service = CustomService.objects.get(link_name="acme_oauth")
    assert service.read_secret("client_secret") == "kept-client-secret" and service.definition["oauth2"]["client_id"] == "cid2"


def test_changing_auth_type_while_used_is_a_clear_conflict(admin_web, acme_connection):
    response = admin_web.post("/services/acme_crm/edit/", edit_form(auth_type="basic", **{"param-TOTAL_FORMS": "0", "param-INITIAL_FORMS": "0"}))
    assert response.status_code == 400 and "cannot change while connections use this service" in response.content.decode()


def test_delete_custom_service_conflict_then_success(admin_web, acme_connection):
    confirm = admin_web.get("/services/acme_crm/delete/").content.decode()
    # The page names and links the connections that use the service; its Delete button is off.
    assert "1 connection still uses this service" in confirm
    assert '<a href="/connections/acme_main/">Acme main</a>' in confirm
    assert re.search(r'<button type="button" class="danger" disabled[^>]*>Delete service</button>', confirm)
    assert 'type="submit" class="danger"' not in confirm
    response = admin_web.post("/services/acme_crm/delete/")
    assert response.status_code == 409 and '<a href="/connections/acme_main/">' in response.content.decode()
    assert CustomService.objects.exists()
    admin_web.post("/connections/acme_main/delete/")
    assert admin_web.post("/services/acme_crm/delete/").status_code == 302
    assert not CustomService.objects.exists()


def test_preconfigured_services_are_not_edited_as_custom(admin_web):
    assert admin_web.get("/services/github/edit/").status_code == 404
    assert admin_web.post("/services/github/delete/").status_code == 404


def test_set_the_oauth_client_of_a_catalog_service(org, admin_web):
    page = admin_web.get("/services/zoho/client/").content.decode()
    assert "http://testserver/oauth/callback" in page and "Secret currently stored: <strong>no" in page
    bad = admin_web.post("/services/zoho/client/", {"client_id": "", "client_secret": "zoho-secret-000"})
    assert bad.status_code == 400 and "This field is required." in error_of(bad.content.decode(), "client_id")
    assert 'value="zoho-secret-000"' in bad.content.decode()  # typed, not stored: kept for the correction
    response = admin_web.post("/services/zoho/client/", {"client_id": "1000.ABC", "client_secret": "zoho-secret-000"})
    assert response.status_code == 302
    client = ServiceClient.objects.get()
    assert client.client_id == "1000.ABC" and client.read_secret("client_secret") == "zoho-secret-000"
    page = admin_web.get("/services/zoho/client/").content.decode()
    assert "zoho-secret-000" not in page and 'value="1000.ABC"' in page and "Secret currently stored: <strong>yes" in page


def test_client_page_only_for_catalog_oauth_services(admin_web, acme_service):
    assert admin_web.get("/services/openai/client/").status_code == 404  # API key
    assert admin_web.get("/services/acme_crm/client/").status_code == 404  # custom
    assert admin_web.get("/services/flickr/client/").status_code == 200  # OAuth 1
    assert b"Consumer key" in admin_web.get("/services/flickr/client/").content


# -- API tokens ------------------------------------------------------------------------------------
def test_create_token_shows_the_key_once(admin_web):
    created = admin_web.post("/tokens/", {"name": "nightly export"})
    assert created.status_code == 302 and created["Location"] == "/tokens/new/"  # POST/redirect/GET
    response = admin_web.get("/tokens/new/")
    html = response.content.decode()
    key = re.search(r'data-testid="token">([^<]+)<', html).group(1)
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="nightly export")
    # A reload neither shows the key again nor creates a second token.
    again = admin_web.get("/tokens/new/")
    assert again.status_code == 302 and again["Location"] == "/tokens/"
    assert key not in admin_web.get("/tokens/").content.decode()
    assert ApiToken.objects.filter(name="nightly export").count() == 1
    assert token.key_hash == sha256_hex(key)
    listing = admin_web.get("/tokens/").content.decode()
    assert "nightly export" in listing and key not in listing and token.prefix in listing
    # The key works against the API.
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/connections/").status_code == 200


def test_revoke_own_token_only(org, web, member_client):
    mine = web(Role.DEVELOPER)
    membership = Membership.objects.get(user=mine.user)
    token, _key = services.api_token_create(membership=membership, name="mine")
    someone = member_client(org, Role.ADMIN, username="someone")
    theirs = ApiToken.objects.filter(membership__user=someone.user).first()
    assert mine.post(f"/tokens/{theirs.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=theirs.pk).exists()
    assert mine.post(f"/tokens/{token.pk}/revoke/").status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert theirs.prefix not in mine.get("/tokens/").content.decode()


def test_viewer_can_manage_own_tokens(web):
    viewer = web(Role.VIEWER)
    assert viewer.post("/tokens/", {"name": "read only"}).status_code == 302
    assert ApiToken.objects.filter(name="read only", membership__role=Role.VIEWER).exists()


# -- organisations ---------------------------------------------------------------------------------
def test_switch_organisation(org, other_org, web, acme_connection, other_connection):
    client = web(Role.ADMIN)
    Membership.objects.create(user=client.user, organisation=other_org, role=Role.VIEWER)
    html = client.get("/").content.decode()
    assert 'action="/organisation/"' in html and "acme_main" in html and "globex_main" not in html
    response = client.post("/organisation/", {"organisation": other_org.pk, "next": "/connections/acme_main/"})
    assert response.status_code == 302 and response["Location"] == "/"
    html = client.get("/").content.decode()
    assert "globex_main" in html and "acme_main" not in html and "Create Connection" not in html  # a viewer there
    assert client.get("/connections/acme_main/").status_code == 404
    assert client.post("/organisation/", {"organisation": org.pk, "next": "https://evil.example/"})["Location"] == "/"


def test_switch_to_an_organisation_you_are_not_in_is_not_found(other_org, admin_web):
    assert admin_web.post("/organisation/", {"organisation": other_org.pk}).status_code == 404
    assert admin_web.post("/organisation/", {"organisation": "x"}).status_code == 404
    assert admin_web.get("/organisation/").status_code == 405


def test_single_membership_shows_no_switcher(admin_web):
    assert 'action="/organisation/"' not in admin_web.get("/").content.decode()


def test_edit_add_another_row_without_js(admin_web, acme_service):
    response = admin_web.post("/services/acme_crm/edit/", edit_form(service_name="Typed but not saved", add_param="1"))
    html = response.content.decode()
    assert response.status_code == 200 and 'name="param-TOTAL_FORMS" value="3"' in html
    assert 'value="Typed but not saved"' in html and "errorlist" not in html
    assert CustomService.objects.get().name == "Acme CRM"


# -- issue 14: back to the form, copyable redirect URIs, one query for the counts, the header --------
def test_setting_a_client_from_the_connection_form_comes_back_to_it(admin_web):
    form = admin_web.get("/connections/new/zoho/").content.decode()
    assert 'href="/services/zoho/client/?next=/connections/new/zoho/"' in form
    page = admin_web.get("/services/zoho/client/?next=/connections/new/zoho/").content.decode()
    assert '<input type="hidden" name="next" value="/connections/new/zoho/">' in page
    assert re.search(r'<code class="wrap" id="copy-redirect-uri">http://testserver/oauth/callback</code> <button type="button" class="small copy" data-copy="#copy-redirect-uri"', page)
    back = admin_web.post("/services/zoho/client/", {"client_id": "1000.ABC", "client_secret": "s", "next": "/connections/new/zoho/"})
    assert back.status_code == 302 and back["Location"] == "/connections/new/zoho/"
    # Only a create-connection page of this site: anything else goes to the Services page.
    for target in ("https://evil.example/", "//evil.example/", "/tokens/"):
        away = admin_web.post("/services/zoho/client/", {"client_id": "1000.ABC", "client_secret": "s", "next": target})
        assert away["Location"] == "/services/#client-zoho", target


def test_custom_service_redirect_uris_can_be_copied(admin_web):
    page = admin_web.get("/connections/new/?tab=custom").content.decode()
    assert 'data-copy="#copy-redirect-uri-oauth2"' in page and 'data-copy="#copy-redirect-uri-oauth1"' in page
    assert "http://testserver/oauth/callback" in page and "http://testserver/oauth1/callback" in page


def test_the_services_page_counts_connections_in_one_query(org, admin_web, acme_connection, django_assert_max_num_queries):
    def page():
        return admin_web.get("/services/").content.decode()

    with django_assert_max_num_queries(50) as few:
        page()
    for i in range(5):
        services.custom_service_create(organisation=org, actor=admin_web.user, definition=services.custom_service_parse({
            "link_name": f"extra_{i}", "name": f"Extra {i}", "auth_type": "api_key",
            "parameters": [{"key": "K", "display_name": "K"}], "base_url": "https://api.extra.example",
        }))
    with django_assert_max_num_queries(len(few.captured_queries)):  # five more services, no more queries
        html = page()
    assert html.count("0 connections") == 5 and "1 connection<" in html


def test_the_header_names_user_role_and_organisation_and_there_is_a_favicon(admin_web, web):
    html = admin_web.get("/").content.decode()
    whoami = re.sub(r"<[^>]+>", "", re.search(r'data-testid="whoami">(.*?)</p>', html, re.S).group(1))
    assert " ".join(whoami.split()) == "Signed in as admin-acme, admin in Acme"
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    viewer = web(Role.VIEWER).get("/").content.decode()
    assert "viewer in <strong>Acme</strong>" in viewer
