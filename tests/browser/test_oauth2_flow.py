"""A custom OAuth 2.0 service against the real OAuth 2.0 test server, through its consent page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from connections_app.models import Connection, ConnectionStatus, CustomService

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "cnx-browser-client"
CLIENT_SECRET = "cnx-browser-secret-0123456789"


def test_custom_oauth2_service_consent_and_back(admin_page, oauth2_provider, base_url):
    server, control = oauth2_provider
    control.register_client(CLIENT_ID, CLIENT_SECRET, [f"{base_url}/oauth/callback"], scope="profile.read profile.write")
    page = admin_page

    page.get_by_role("link", name="Create Connection").first.click()
    page.get_by_role("link", name="Custom service", exact=True).click()
    page.get_by_label("Service name").fill("Test Provider")
    # The OAuth fields appear when an OAuth type is chosen; the API key rows go away.
    expect(page.get_by_label("Client ID")).to_be_hidden()
    page.get_by_label("Authentication type").select_option("oauth2")
    expect(page.get_by_label("Client ID")).to_be_visible()
    expect(page.locator("[data-formset='param']")).to_be_hidden()

    oauth = page.locator("fieldset[data-auth-only='oauth2']")
    oauth.get_by_label("Client ID").fill(CLIENT_ID)
    oauth.get_by_label("Client secret").fill(CLIENT_SECRET)
    oauth.get_by_label("Authorize URL").fill(f"{server.url}/oauth/authorize")
    oauth.get_by_label("Access token URL").fill(f"{server.url}/oauth/token")
    oauth.get_by_label("Revoke token URL").fill(f"{server.url}/oauth/revoke")
    expect(oauth.get_by_label("Use PKCE (S256)")).to_be_checked()
    scopes = page.locator("[data-formset='scope']")
    scopes.locator("[data-row]").nth(0).get_by_label("Scope 1 name").fill("profile.read")
    scopes.locator("[data-row]").nth(0).get_by_label("Scope 1 display name").fill("Read your profile")
    # JS removes the empty second row, and adds one more.
    scopes.locator("[data-row]").nth(1).get_by_role("button", name="Remove this row").click()
    scopes.get_by_role("button", name="Add", exact=True).click()
    expect(scopes.locator("[data-row]")).to_have_count(2)
    scopes.locator("[data-row]").nth(1).get_by_label("Scope 2 name").fill("profile.write")
    page.get_by_label("Base URL").fill(server.url)
    page.get_by_text("Snippet and test request").click()
    page.get_by_label("Sample URL").fill(f"{server.url}/api/me")
    page.get_by_label("Test request path").fill("/api/me")
    page.get_by_label("Connection name", exact=True).fill("Provider main")
    expect(page.get_by_label("Connection link name")).to_have_value("provider_main")
    page.get_by_role("button", name="Save and Connect", exact=True).click()

    # This server's one-time link first shows a Continue page (link-preview bots stop there),
    # then the provider's consent page.
    page.get_by_role("button", name="Continue to Test Provider").click()
    page.wait_for_url(f"{server.url}/oauth/authorize?**")
    expect(page.locator("#client-id")).to_have_text(CLIENT_ID)
    expect(page.locator("#scopes")).to_contain_text("profile.read")
    expect(page.locator("#scopes")).to_contain_text("profile.write")
    assert control.authorization_requests[-1]["args"]["code_challenge_method"] == "S256"
    assert Connection.objects.get(link_name="provider_main").status == ConnectionStatus.PENDING
    page.get_by_role("button", name="Approve").click()

    page.wait_for_url("**/connections/provider_main/")  # ?connected=1 is said once, then dropped
    expect(page.get_by_test_id("status")).to_have_text("Connected")
    expect(page.locator(".flash.success")).to_contain_text("Connected.")
    page.reload()
    expect(page.get_by_test_id("status")).to_have_text("Connected")
    expect(page.locator(".flash.success")).to_have_count(0)
    expect(page.locator("dl.summary")).to_contain_text("Read your profile")
    expect(page.locator("dl.summary")).to_contain_text("Token expires")
    assert control.grant_counts["authorization_code"] == 1
    html = page.content()
    assert CLIENT_SECRET not in html
    access_token = control.tokens[-1].access_token
    assert access_token not in html

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash.success")).to_contain_text("Test passed (HTTP 200)")
    assert control.resource_requests[-1]["ok"] is True

    # Reconnect, and this time deny: a clear page, and the error on the connection.
    page.get_by_role("button", name="Reconnect").click()
    page.get_by_role("button", name="Continue to Test Provider").click()
    page.wait_for_url(f"{server.url}/oauth/authorize?**")
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("heading", name="Consent was not given")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("access_denied")
    page.get_by_role("link", name="the connection").click()
    expect(page.locator(".alert")).to_contain_text("access_denied")
    expect(page.locator(".alert")).to_contain_text("Use Reconnect to give consent again")

    # Revoking revokes the tokens at the provider too.
    page.get_by_role("link", name="Revoke").click()
    page.get_by_role("button", name="Revoke connection").click()
    expect(page.get_by_test_id("status")).to_have_text("Revoked")
    assert control.revocation_count >= 1
    assert CustomService.objects.filter(link_name="test_provider").exists()


def test_every_typed_value_is_kept_when_the_form_has_errors(admin_page, oauth2_provider):
    server, _control = oauth2_provider
    page = admin_page
    page.goto("/connections/new/?tab=custom")
    page.get_by_label("Service name").fill("Test Provider")
    page.get_by_label("Authentication type").select_option("oauth2")
    oauth = page.locator("fieldset[data-auth-only='oauth2']")
    oauth.get_by_label("Client ID").fill(CLIENT_ID)
    oauth.get_by_label("Client secret").fill(CLIENT_SECRET)
    oauth.get_by_label("Authorize URL").fill("not a url")
    oauth.get_by_label("Access token URL").fill(f"{server.url}/oauth/token")
    page.get_by_label("Base URL").fill(server.url)
    page.get_by_label("Connection name", exact=True).fill("Provider main")
    page.get_by_role("button", name="Save and Connect", exact=True).click()
    expect(page.locator("#id_oauth2_authorize_url_error")).to_contain_text("absolute http(s) URL")
    # The OAuth section is still shown (JS re-applies the chosen type), every value kept; the
    # summary links the field.
    expect(oauth.get_by_label("Client ID")).to_have_value(CLIENT_ID)
    expect(oauth.get_by_label("Client secret")).to_have_value(CLIENT_SECRET)
    page.get_by_test_id("error-summary").get_by_role("link", name="Authorize URL").click()
    expect(oauth.get_by_label("Authorize URL")).to_be_focused()
    assert not CustomService.objects.exists() and not Connection.objects.exists()
