"""Screenshots of the main pages (1200x800), and a phone-width check.

They go to a temporary folder; ``SCREENSHOTS_DIR=docs/img .venv/bin/python -m pytest
tests/browser/test_screenshots.py`` renews the README's pictures on purpose."""

from __future__ import annotations

import json

import pytest
import requests
import yaml
from playwright.sync_api import expect

from connections_app import services
from connections_app.models import ConnectionStatus, Connection, Role
from services_catalog import registry
from tests.browser.conftest import new_context, screenshot, sign_in
from tests.catalog_entries import catalog_entry  # noqa: F401  (a fixture)
from tests.factories import new_key
from tests.servers.oauth2_server import JWT_BEARER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed_connections(org, user, upstream_url):
    """A few connections in every status, as an organisation would have them."""
    services.custom_service_create(organisation=org, actor=user, definition=services.custom_service_parse({
        "link_name": "acme_crm", "name": "Acme CRM", "auth_type": "api_key", "param_type": "header",
        "parameters": [{"key": "X-Api-Key", "display_name": "API key"}], "base_url": upstream_url,
        "sample_url": f"{upstream_url}/protected/header/X-Api-Key",
    }))
    services.connection_create(organisation=org, actor=user, name="Acme CRM (production)", link_name="acme_main",
                               service="acme_crm", credentials={"X-Api-Key": "upstream-secret-0001"})
    services.connection_create(organisation=org, actor=user, name="OpenAI for summaries", link_name="openai_summaries",
                               service="openai", credentials={"Authorization": "Bearer sk-demo-000000000000"})
    services.connection_create(organisation=org, actor=user, name="Twilio SMS", link_name="twilio_sms",
                               service="twilio", credentials={"username": "AC0000", "password": "demo-password-0000"})
    services.service_client_set(organisation=org, actor=user, link_name="zoho",
                                client_id="1000.DEMO", client_secret="demo-secret")
    services.connection_create(organisation=org, actor=user, name="Zoho Desk tickets", link_name="zoho_desk",
                               service="zoho", scopes=["Desk.tickets.READ", "Desk.basic.READ"], config={"dc": "eu"})
    Connection.objects.filter(link_name="twilio_sms").update(
        status=ConnectionStatus.NEEDS_REAUTH, error="The service refused the credentials (HTTP 401).")


def invoke_a_few_times(base_url, user, org):
    membership = user.memberships.get(organisation=org)
    _token, key = services.api_token_create(membership=membership, name="screenshots")
    for path in ("/protected/header/X-Api-Key", "/anything", "/protected/query/X-Api-Key"):
        response = requests.post(
            f"{base_url}/api/v1/invoke/", json={"connection": "acme_main", "url": path},
            headers={"Authorization": f"Token {key}"}, timeout=30,
        )
        assert response.status_code == 200, response.content


def test_screenshots_and_phone_width(browser, base_url, org, make_member, upstream):
    user = make_member(Role.ADMIN, username="alice")
    seed_connections(org, user, upstream.url)
    invoke_a_few_times(base_url, user, org)
    context = new_context(browser, base_url)
    page = context.new_page()
    sign_in(page, user)

    page.goto("/")
    expect(page.get_by_role("heading", name="My Connections")).to_be_visible()
    screenshot(page, "connections-list.png")

    page.goto("/connections/new/")
    expect(page.get_by_role("link", name="Select a service")).to_have_attribute("aria-current", "page")
    screenshot(page, "create-connection.png")

    page.goto("/connections/new/?tab=custom")
    screenshot(page, "create-custom-service.png")
    page.get_by_label("Authentication type").select_option("oauth2")
    page.get_by_role("button", name="Save and Connect").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    screenshot(page, "custom-service-errors.png")

    page.goto("/connections/new/zoho/")
    screenshot(page, "connection-details.png")

    page.goto("/connections/acme_main/")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash")).to_be_visible()
    screenshot(page, "connection-summary.png")

    page.goto("/services/")
    screenshot(page, "services.png")
    page.goto("/services/acme_crm/delete/")
    screenshot(page, "service-in-use.png")
    context.close()

    # Phone width: nothing wider than the screen.
    phone = new_context(browser, base_url, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    sign_in(page, user)
    for path in ("/", "/connections/new/", "/connections/new/?tab=custom", "/connections/new/zoho/",
                 "/connections/acme_main/", "/services/", "/tokens/"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide at phone width"
    page.goto("/connections/acme_main/")
    screenshot(page, "phone-summary.png")
    page.evaluate("document.getElementById('code-heading').scrollIntoView()")
    screenshot(page, "phone-snippets.png")
    phone.close()


SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
ROBOT = "sheets-robot@acme-project.iam.gserviceaccount.com"


def google_sheets_on_local_server(catalog_entry, provider) -> str:  # noqa: F811  (the fixture, passed in)
    """The catalog's Google Sheets service-account entry as shipped, with its token endpoint and API
    host moved to the local Authlib server (an operator's catalog folder may name http hosts)."""
    data = yaml.safe_load((registry.BUILTIN_DIR / "google_sheets_service_account.yaml").read_text())
    data.update(link_name="google_sheets_local", base_url=provider.url, allowed_hosts=["127.0.0.1"],
                sample_url=f"{provider.url}/api/me", verify={"method": "GET", "path": "/api/me"})
    data["oauth2"]["token_url"] = f"{provider.url}/oauth/token"
    catalog_entry(data)
    return data["link_name"]


def test_service_account_connection(browser, base_url, org, make_member, oauth2_server, catalog_entry):  # noqa: F811
    """A Google service-account connection made in the browser: the key file is pasted as is, the
    product signs a JWT bearer assertion, the local Authlib server verifies it with the key's public
    half and issues a token; then the connection's page."""
    pem, public = new_key()
    oauth2_server.register_client(ROBOT, None, [], scope=SHEETS_SCOPE, grant_types=[JWT_BEARER], public_key=public)
    link_name = google_sheets_on_local_server(catalog_entry, oauth2_server)
    key_file = json.dumps({
        "type": "service_account", "project_id": "acme-project", "private_key_id": "3f2a9c0d1e", "private_key": pem,
        "client_email": ROBOT, "client_id": "109876543210", "token_uri": f"{oauth2_server.url}/oauth/token",
    }, indent=2)
    user = make_member(Role.ADMIN, username="alice")
    context = new_context(browser, base_url)
    page = context.new_page()
    sign_in(page, user)

    page.goto(f"/connections/new/{link_name}/")
    page.get_by_label("Connection name", exact=True).fill("Sales forecast sheet")
    page.get_by_label("Service account key file (JSON), or leave empty and give a private key").fill(key_file)
    page.evaluate("document.activeElement.blur()")
    # Scopes and the pasted key file in view.
    page.locator("legend", has_text="Scopes").evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + scrollY - 24)")
    screenshot(page, "service-account-connect.png")
    page.get_by_role("button", name="Create and Connect").click()

    expect(page.get_by_role("heading", name="Sales forecast sheet")).to_be_visible()
    connection = Connection.objects.get(link_name="sales_forecast_sheet")
    assert connection.status == ConnectionStatus.CONNECTED and connection.expires_at
    grant = oauth2_server.assertions[-1]
    assert grant["kind"] == "grant" and grant["claims"]["iss"] == ROBOT and grant["claims"]["scope"] == SHEETS_SCOPE
    assert grant["header"]["kid"] == "3f2a9c0d1e"
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash")).to_be_visible()
    hints = page.get_by_test_id("credential-hints")
    expect(hints).to_contain_text("Service account key file")
    expect(hints).not_to_contain_text("Private key (PEM)")  # not given: not listed as set
    expect(hints).to_contain_text(f"Signs as: {ROBOT}")  # who the key signs as, nothing of the key
    assert "PRIVATE KEY" not in page.content()
    screenshot(page, "service-account-connection.png")
    context.close()
