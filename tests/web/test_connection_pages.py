"""My Connections, Create Connection (a catalog service), the summary and its actions."""

from __future__ import annotations

import re

import pytest

from connections_app import services
from connections_app.models import AuthorizeLink, Connection, ConnectionStatus, InvocationLog, Role

from tests.factories import error_of

from .conftest import SECRET

pytestmark = pytest.mark.django_db


# -- My Connections ----------------------------------------------------------------------------
def test_list_shows_name_link_service_status_and_last_used(admin_web, acme_connection):
    InvocationLog.objects.create(organisation=acme_connection.organisation, connection=acme_connection,
                                 at="2026-01-02T03:04:05Z", method="GET", url="https://api.acme.example/x", status_code=200)
    html = admin_web.get("/").content.decode()
    assert "Acme main" in html and "<code>acme_main</code>" in html and "Acme CRM" in html
    assert 'class="badge connected"' in html and "2026-01-02 03:04" in html
    assert 'href="/connections/new/"' in html  # Create Connection


def test_list_search_and_status_filter(org, admin_web, acme_connection):
    services.connection_create(organisation=org, actor=admin_web.user, name="Second", link_name="second_one",
                               service="acme_crm", credentials={"X-Api-Key": "k" * 16, "X-Account": "a"})
    services.connection_revoke(organisation=org, actor=admin_web.user, link_name="second_one")
    html = admin_web.get("/", {"q": "second"}).content.decode()
    assert "second_one" in html and "acme_main" not in html
    html = admin_web.get("/", {"status": "revoked"}).content.decode()
    assert "second_one" in html and "acme_main" not in html
    html = admin_web.get("/", {"status": "connected"}).content.decode()
    assert "second_one" not in html and "acme_main" in html
    # A bad filter value is shown as such, not a crash.
    assert admin_web.get("/", {"status": "bogus"}).status_code == 200


def test_empty_list_invites_to_create(admin_web):
    html = admin_web.get("/").content.decode()
    assert "No connections yet." in html and "Create the first one" in html


# -- Create Connection: select a service ---------------------------------------------------------
def test_catalog_grid_with_search_and_auth_filter(admin_web, acme_service):
    html = admin_web.get("/connections/new/").content.decode()
    assert "/connections/new/zoho/" in html and "/connections/new/acme_crm/" in html and 'aria-current="page">Select a service' in html
    html = admin_web.get("/connections/new/", {"q": "zoho"}).content.decode()
    assert "/connections/new/zoho/" in html and "/connections/new/github/" not in html
    html = admin_web.get("/connections/new/", {"auth_type": "basic"}).content.decode()
    assert "/connections/new/twilio/" in html and "/connections/new/zoho/" not in html


def test_details_form_for_zoho_has_scopes_and_data_centre(admin_web):
    html = admin_web.get("/connections/new/zoho/").content.decode()
    assert "Desk: read tickets" in html and 'value="Desk.tickets.READ"' in html
    assert '<select name="config_dc"' in html and '<option value="eu">' in html
    assert "No OAuth client is set for Zoho OAuth" in html and "/services/zoho/client/" in html


def test_default_scopes_are_pre_checked(admin_web):
    html = admin_web.get("/connections/new/zendesk/").content.decode()
    assert re.search(r'<input type="checkbox" name="scopes" value="read"[^>]*checked', html)
    assert not re.search(r'<input type="checkbox" name="scopes" value="write"[^>]*checked', html)


def test_create_api_key_connection_goes_to_the_summary(admin_web):
    response = admin_web.post("/connections/new/openai/", {"name": "Main AI", "link_name": "main_ai", "credential_0": "Bearer sk-0123456789abcdef"})
    assert response.status_code == 302 and response["Location"] == "/connections/main_ai/"
    connection = Connection.objects.get(link_name="main_ai")
    assert connection.status == ConnectionStatus.CONNECTED and connection.credentials == {"Authorization": "Bearer sk-0123456789abcdef"}
    page = admin_web.get(response["Location"]).content.decode()
    assert "is connected" in page and "sk-0123456789abcdef" not in page


def test_developer_can_create_connections(web):
    response = web(Role.DEVELOPER).post("/connections/new/openai/", {"name": "AI", "link_name": "main_ai", "credential_0": "Bearer sk-0123456789abcdef"})
    assert response.status_code == 302


def test_create_oauth_connection_redirects_to_the_one_time_authorize_link(org, admin_web):
    services.service_client_set(organisation=org, actor=admin_web.user, link_name="zoho", client_id="1000.X", client_secret="zoho-secret")
    response = admin_web.post("/connections/new/zoho/", {"name": "Zoho desk", "link_name": "zoho_desk", "config_dc": "eu", "scopes": ["Desk.tickets.READ", "Desk.basic.READ"]})
    assert response.status_code == 302
    assert re.fullmatch(r"http://testserver/oauth/authorize/[\w-]+", response["Location"])
    connection = Connection.objects.get(link_name="zoho_desk")
    assert connection.status == ConnectionStatus.PENDING and connection.config == {"dc": "eu"}
    assert connection.scopes == ["Desk.tickets.READ", "Desk.basic.READ"]
    assert AuthorizeLink.objects.filter(connection=connection).count() == 1
    # Following it goes to Zoho's EU accounts server.
    start = admin_web.post(response["Location"].removeprefix("http://testserver"))  # Continue
    assert start.status_code == 302 and start["Location"].startswith("https://accounts.zoho.eu/oauth/v2/auth?")


def test_missing_oauth_client_shows_the_message_and_a_link_for_admins(web):
    for role, link in ((Role.ADMIN, True), (Role.DEVELOPER, False)):
        client = web(role)
        response = client.post("/connections/new/zoho/", {"name": "Zoho", "link_name": f"zoho_{role}", "config_dc": "com"})
        html = response.content.decode()
        assert response.status_code == 400
        assert "No OAuth client is set for Zoho OAuth in this organisation" in html
        assert ('href="/services/zoho/client/?next=/connections/new/zoho/"' in html) is link
    assert not Connection.objects.exists()


def test_errors_show_next_to_fields_and_keep_every_typed_value(admin_web):
    response = admin_web.post("/connections/new/openai/", {"name": "Main AI", "link_name": "9 Bad", "credential_0": "Bearer sk-secret-not-kept-000"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Must start with a lower case letter" in error_of(html, "link_name")
    assert 'value="Main AI"' in html and 'value="9 Bad"' in html
    # The typed secret is re-filled in this one response (nothing was stored).
    assert 'value="Bearer sk-secret-not-kept-000"' in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_link_name_helptext id_link_name_error"' in html
    missing = admin_web.post("/connections/new/openai/", {"name": "", "link_name": "ok_name"}).content.decode()
    assert "This field is required." in error_of(missing, "name")
    assert "This field is required." in error_of(missing, "credential_0")


def test_domain_errors_come_back_next_to_fields(org, admin_web, acme_connection):
    taken = admin_web.post("/connections/new/acme_crm/", {"name": "Again", "link_name": "acme_main", "credential_0": "k" * 16, "credential_1": "a"})
    assert taken.status_code == 400 and "already used by another connection" in error_of(taken.content.decode(), "link_name")
    bad_config = admin_web.post("/connections/new/zendesk/", {"name": "Z", "link_name": "zen", "config_subdomain": "bad/host"})
    assert bad_config.status_code == 400 and error_of(bad_config.content.decode(), "config_subdomain")
    reserved = admin_web.post("/connections/new/openai/", {"name": "New", "link_name": "new", "credential_0": "Bearer sk-000000000000"})
    assert "reserved" in error_of(reserved.content.decode(), "link_name")


def test_unknown_service_is_not_found(admin_web):
    assert admin_web.get("/connections/new/no_such_service/").status_code == 404


# -- link-name check --------------------------------------------------------------------------------
def test_link_name_check_endpoint(admin_web, acme_connection, other_connection):
    def check(value, kind=None):
        params = {"link_name": value, **({"kind": kind} if kind else {})}
        return admin_web.get("/connections/check-link-name/", params).json()

    assert check("fresh_name") == {"link_name": "fresh_name", "valid": True, "available": True, "message": "Available."}
    assert check("acme_main")["available"] is False
    assert check("Bad Name")["valid"] is False
    assert check("new")["available"] is False
    assert check("globex_main")["available"] is True  # another organisation's names are not ours to see
    assert check("github", "service")["available"] is False
    assert check("acme_crm", "service")["available"] is False
    assert check("acme_main", "service")["available"] is True


# -- summary and actions ----------------------------------------------------------------------------
def test_summary_shows_everything_and_the_snippets(admin_web, acme_connection):
    InvocationLog.objects.create(organisation=acme_connection.organisation, connection=acme_connection,
                                 at="2026-01-02T03:04:05Z", method="POST", url="https://api.acme.example/v1/items",
                                 status_code=201, elapsed_ms=12, actor="bob")
    html = admin_web.get("/connections/acme_main/").content.decode()
    for text in ("Acme main", "Acme CRM", "Connected", "Created by", "admin-acme", "Connected at", "Last used",
                 "2026-01-02 03:04", "https://api.acme.example/v1/items", "bob", "12 ms"):
        assert text in html, text
    for key in ("deluge", "curl", "python", "javascript"):
        assert f'id="code-{key}"' in html
    assert "connection: &quot;acme_main&quot;" in html
    assert "http://testserver/api/v1/invoke/" in html
    assert SECRET not in html


def test_connected_note_shows_once_and_not_on_reload(org, admin_web, acme_connection):
    back = admin_web.get("/connections/acme_main/?connected=1")
    assert back.status_code == 302 and back["Location"] == "/connections/acme_main/"  # the address loses ?connected=1
    assert "Connected. Scripts can use acme_main now." in admin_web.get(back["Location"]).content.decode()
    assert "Connected. Scripts can use" not in admin_web.get("/connections/acme_main/").content.decode()  # a reload


def test_recent_calls_are_the_last_twenty(admin_web, acme_connection):
    for i in range(25):
        InvocationLog.objects.create(organisation=acme_connection.organisation, connection=acme_connection,
                                     at=f"2026-01-01T00:00:{i:02d}Z", method="GET", url=f"https://api.acme.example/call/{i}")
    html = admin_web.get("/connections/acme_main/").content.decode()
    assert "/call/24<" in html and "/call/5<" in html and "/call/4<" not in html


def test_test_connection_shows_the_result(admin_web, acme_connection):
    response = admin_web.post("/connections/acme_main/test/", follow=True)
    assert "Test passed" in response.content.decode()


def test_revoke_needs_confirmation_then_wipes(admin_web, acme_connection):
    confirm = admin_web.get("/connections/acme_main/revoke/")
    assert confirm.status_code == 200 and b"Revoke connection" in confirm.content
    assert Connection.objects.get().status == ConnectionStatus.CONNECTED
    response = admin_web.post("/connections/acme_main/revoke/", follow=True)
    html = response.content.decode()
    connection = Connection.objects.get()
    assert connection.status == ConnectionStatus.REVOKED and not connection.credentials_encrypted
    assert "is revoked" in html and "Use Edit to enter the credentials again" in html


def test_delete_needs_confirmation(admin_web, acme_connection):
    assert b"Delete connection" in admin_web.get("/connections/acme_main/delete/").content
    assert Connection.objects.exists()
    response = admin_web.post("/connections/acme_main/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Connection.objects.exists()


def test_reconnect_redirects_to_a_new_authorize_link(org, admin_web):
    services.service_client_set(organisation=org, actor=admin_web.user, link_name="zoho", client_id="1000.X", client_secret="zoho-secret")
    services.connection_create(organisation=org, actor=admin_web.user, name="Zoho", link_name="zoho_desk", service="zoho", config={"dc": "com"})
    html = admin_web.get("/connections/zoho_desk/").content.decode()
    assert "Consent has not finished" in html and "Reconnect" in html
    response = admin_web.post("/connections/zoho_desk/reconnect/")
    assert response.status_code == 302 and response["Location"].startswith("http://testserver/oauth/authorize/")
    assert AuthorizeLink.objects.count() == 2


def test_reconnect_of_an_api_key_connection_explains(admin_web, acme_connection):
    response = admin_web.post("/connections/acme_main/reconnect/", follow=True)
    assert "Only OAuth connections with consent can be reconnected" in response.content.decode()


def test_edit_renames_and_replaces_credentials(admin_web, acme_connection):
    page = admin_web.get("/connections/acme_main/edit/").content.decode()
    assert 'value="Acme main"' in page and SECRET not in page
    response = admin_web.post("/connections/acme_main/edit/", {"name": "Acme renamed", "credential_0": "new-key-000000000000", "credential_1": ""})
    assert response.status_code == 302
    connection = Connection.objects.get()
    assert connection.name == "Acme renamed"
    assert connection.credentials == {"X-Api-Key": "new-key-000000000000", "X-Account": "acct-1"}


def test_edit_after_revoke_connects_again(admin_web, acme_connection):
    admin_web.post("/connections/acme_main/revoke/")
    missing = admin_web.post("/connections/acme_main/edit/", {"name": "Acme main", "credential_0": "only-one-000000000"})
    assert missing.status_code == 400 and "This field is required." in error_of(missing.content.decode(), "credential_1")
    admin_web.post("/connections/acme_main/edit/", {"name": "Acme main", "credential_0": "k" * 16, "credential_1": "acct"})
    assert Connection.objects.get().status == ConnectionStatus.CONNECTED


# -- issue 14: wording that matches the state, catalog words, every attempt logged ----------------
def test_a_revoked_connection_asks_for_its_credentials_instead_of_offering_to_keep_them(admin_web, acme_connection):
    assert "Leave empty to keep the secret" in admin_web.get("/connections/acme_main/edit/").content.decode()
    admin_web.post("/connections/acme_main/revoke/")
    page = admin_web.get("/connections/acme_main/edit/").content.decode()
    assert "Leave empty to keep" not in page and "Revoking wiped the credentials" in page
    assert re.search(r'<input type="password" name="credential_0"[^>]* required', page)
    empty = admin_web.post("/connections/acme_main/edit/", {"name": "Acme main"})
    assert empty.status_code == 400 and "This field is required." in error_of(empty.content.decode(), "credential_0")
    saved = admin_web.post("/connections/acme_main/edit/", {"name": "Acme main", "credential_0": SECRET, "credential_1": "acct-2"})
    assert saved.status_code == 302
    assert Connection.objects.get(link_name="acme_main").status == ConnectionStatus.CONNECTED


def test_a_passing_test_clears_the_error_a_failed_reconsent_left(org, admin_web, upstream):
    services.custom_service_create(organisation=org, actor=admin_web.user, definition=services.custom_service_parse({
        "link_name": "up", "name": "Up", "auth_type": "api_key", "parameters": [{"key": "X-Api-Key", "display_name": "Key"}],
        "base_url": upstream.url, "verify": {"method": "GET", "path": "/protected/header/X-Api-Key"},
    }))
    services.connection_create(organisation=org, actor=admin_web.user, name="Up", link_name="up_main", service="up",
                               credentials={"X-Api-Key": "upstream-secret-0001"})
    Connection.objects.filter(link_name="up_main").update(error="Consent was not given at the provider.")
    assert "Consent was not given" in admin_web.get("/connections/up_main/").content.decode()
    admin_web.post("/connections/up_main/test/")
    page = admin_web.get("/connections/up_main/").content.decode()
    assert "Test passed" in page and "Consent was not given" not in page
    assert Connection.objects.get(link_name="up_main").error == ""


def test_catalog_placeholders_are_never_shown_raw_and_choices_have_names(org, admin_web):
    page = admin_web.get("/connections/new/zoho/").content.decode()
    assert "{dc}" not in re.sub(r"<[^>]+>", " ", page)  # the text shown; app.js fills the template attribute
    assert '<code data-host-template="www.zohoapis.{dc}">www.zohoapis.com</code>' in page  # the default, filled in
    assert "(per data centre)" in page
    assert '<option value="eu">Europe (zohoapis.eu)</option>' in page
    assert '<option value="com" selected>United States (zohoapis.com)</option>' in page
    eu = admin_web.post("/connections/new/zoho/", {"name": "Z", "link_name": "", "config_dc": "eu"}).content.decode()
    assert ">www.zohoapis.eu</code>" in eu  # what was chosen
    salesforce = admin_web.get("/connections/new/salesforce/").content.decode()
    assert "{my_domain}" not in re.sub(r"<[^>]+>", " ", salesforce) and "‹my domain›.my.salesforce.com" in salesforce
    catalog = admin_web.get("/connections/new/").content.decode()
    assert not re.search(r'class="tile-desc">[^<]*\{', catalog)
    services.service_client_set(organisation=org, actor=admin_web.user, link_name="zoho", client_id="1000.X", client_secret="s")
    services.connection_create(organisation=org, actor=admin_web.user, name="Zoho EU", link_name="zoho_eu", service="zoho",
                               scopes=["Desk.tickets.READ"], config={"dc": "eu"})
    summary = admin_web.get("/connections/zoho_eu/").content.decode()
    assert "<dt>Data centre</dt><dd>Europe</dd>" in summary and "{dc}" not in summary


def test_refused_calls_are_in_recent_calls_and_each_parameter_shows_its_hint(org, admin, admin_web, acme_connection):
    page = admin_web.get("/connections/acme_main/").content.decode()
    hints = re.search(r'data-testid="credential-hints">(.*?)</ul>', page, re.S).group(1)
    assert f"API key: <code>…{SECRET[-4:]}</code>" in hints
    assert "Account: <span class=\"muted\">set</span>" in hints  # too short to show any of it
    assert SECRET not in page
    for status in (ConnectionStatus.REVOKED, ConnectionStatus.PENDING, ConnectionStatus.NEEDS_REAUTH):
        Connection.objects.filter(pk=acme_connection.pk).update(status=status)
        response = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/v1/items", "method": "post"}, format="json")
        assert response.status_code == 409
    logged = list(InvocationLog.objects.filter(connection=acme_connection).values_list("method", "url", "error"))
    assert logged == [("POST", "/v1/items", "connection_not_ready")] * 3
    assert "connection_not_ready" in admin_web.get("/connections/acme_main/").content.decode()


def test_the_sap_successfactors_form_asks_for_the_saml_key_and_never_echoes_it(admin_web):
    """A SAML 2.0 bearer service: no OAuth client needed; the key is a text area, the client
    id, user and company are lines; a key that cannot be read is refused next to its field and
    nothing is stored."""
    html = admin_web.get("/connections/new/sap_successfactors/").content.decode()
    assert "No OAuth client is set" not in html and 'name="config_api_host"' in html
    assert re.search(r'<textarea[^>]*name="credential_0"', html) and "User id" in html and "Company id" in html
    bad = "-----BEGIN PRIVATE KEY-----\nNOTAKEYNOTAKEY\n-----END PRIVATE KEY-----"
    response = admin_web.post("/connections/new/sap_successfactors/", {
        "name": "SF", "link_name": "sf_main", "config_api_host": "api4.successfactors.com",
        "credential_0": bad, "credential_1": "", "credential_2": "APIKEY", "credential_3": "sfadmin", "credential_4": "ACME01",
    }).content.decode()
    assert "could not be read" in error_of(response, "credential_0")
    assert not Connection.objects.exists()  # the typed key comes back in that one answer only (house rule)
    assert "NOTAKEYNOTAKEY" not in admin_web.get("/connections/new/sap_successfactors/").content.decode()


def test_a_url_config_field_is_a_url_input_that_names_its_hosts(admin_web):
    # Workday: the Authorization Endpoint the tenant shows on View API Clients, a whole URL.
    html = admin_web.get("/connections/new/workday/").content.decode()
    assert re.search(r'<input type="url" name="config_authorization_endpoint" maxlength="500"', html), html
    assert "*.workday.com, *.myworkday.com" in html
    bad = admin_web.post("/connections/new/workday/", {
        "name": "W", "link_name": "wd", "config_host": "wd2-impl-services1.workday.com", "config_tenant": "acme_dpt1",
        "config_authorization_endpoint": "https://evil.example/acme_dpt1/authorize"})
    assert bad.status_code == 400 and error_of(bad.content.decode(), "config_authorization_endpoint")
