"""The browser flows of the help page, in a real Chromium against the live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests
from playwright.sync_api import expect

from connections_app.models import Connection, ConnectionStatus


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "upstream-secret-0001"  # what tests.upstream.Upstream accepts


def create_token(page) -> str:
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("browser test")
    page.get_by_role("button", name="Create token").click()
    return page.get_by_test_id("token").inner_text().strip()


def fill_custom_api_key_service(page, upstream, *, service_name="Acme API", connection_name="Acme main"):
    page.get_by_role("link", name="Create Connection").first.click()
    page.get_by_role("link", name="Custom service", exact=True).click()
    expect(page.get_by_role("heading", name="Create new service")).to_be_visible()
    page.get_by_label("Service name").fill(service_name)
    page.get_by_label("Authentication type").select_option("api_key")
    page.get_by_label("Parameter type").select_option("header")
    rows = page.locator("[data-formset='param'] [data-row]")
    rows.nth(0).get_by_label("Parameter 1 key").fill("X-Api-Key")
    rows.nth(0).get_by_label("Parameter 1 display name").fill("API key")
    rows.nth(0).get_by_label("Parameter 1 value for this connection").fill(SECRET)
    page.get_by_label("Base URL").fill(upstream.url)
    page.get_by_text("Snippet and test request").click()
    page.get_by_label("Sample URL").fill(f"{upstream.url}/protected/header/X-Api-Key")
    page.get_by_label("Test request path").fill("/protected/header/X-Api-Key")
    page.get_by_label("Connection name", exact=True).fill(connection_name)


def test_custom_api_key_service_end_to_end(admin_page, upstream, base_url, tmp_path):
    """Sign in → Create Connection → Custom service → Save → connected → the snippet works."""
    page = admin_page
    fill_custom_api_key_service(page, upstream)
    # The link names are filled from the names (and stay editable).
    expect(page.get_by_label("Service link name")).to_have_value("acme_api")
    expect(page.get_by_label("Connection link name")).to_have_value("acme_main")
    expect(page.locator("#id_link_name_status")).to_contain_text("available")
    page.get_by_role("button", name="Save", exact=True).click()

    page.wait_for_url("**/connections/acme_main/")
    expect(page.get_by_test_id("status")).to_have_text("Connected")
    expect(page.locator("#code-deluge")).to_contain_text('connection: "acme_main"')
    assert SECRET not in page.content()

    # Test connection runs the service's test request against the upstream.
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash.success")).to_contain_text("Test passed (HTTP 200)")

    # Copy the Python snippet through the clipboard, and run it as a script would.
    page.get_by_role("tab", name="Python").click()
    page.get_by_role("button", name="Copy the Python snippet").click()
    expect(page.locator("#snippet-python .copied")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#code-python").inner_text()
    assert f"{base_url}/api/v1/invoke/" in copied and '"connection": "acme_main"' in copied

    key = create_token(page)
    page.get_by_role("button", name="Copy the token").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    script = tmp_path / "snippet.py"
    script.write_text(copied)
    upstream.reset()
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "CONNECTIONS_TOKEN": key},
    )
    assert result.returncode == 0, result.stderr
    assert "'status_code': 200" in result.stdout and "'ok': True" in result.stdout
    assert upstream.requests[-1]["headers"]["X-Api-Key"] == SECRET

    # The call shows under Recent calls.
    page.goto("/connections/acme_main/")
    expect(page.locator("#calls-heading + .tablewrap")).to_contain_text("/protected/header/X-Api-Key")


def test_revoke_with_confirmation(admin_page, upstream, base_url):
    page = admin_page
    fill_custom_api_key_service(page, upstream)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/connections/acme_main/")

    page.get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke Acme main?")).to_be_visible()
    page.get_by_role("button", name="Revoke connection").click()
    page.wait_for_url("**/connections/acme_main/")
    expect(page.get_by_test_id("status")).to_have_text("Revoked")
    expect(page.locator(".alert")).to_contain_text("Edit to enter the credentials again")
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == ConnectionStatus.REVOKED and not connection.credentials_encrypted

    # Invoking through it is refused now.
    key = create_token(page)
    response = requests.post(
        f"{base_url}/api/v1/invoke/", json={"connection": "acme_main", "url": "/protected/header/X-Api-Key"},
        headers={"Authorization": f"Token {key}"}, timeout=30,
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"


def test_bad_link_name_is_shown_next_to_the_field(admin_page):
    page = admin_page
    page.goto("/connections/new/")
    page.get_by_label("Search services").fill("openai")
    page.get_by_role("link", name=re.compile("^OpenAI")).click()
    page.get_by_label("Connection name").fill("Main AI")
    link = page.get_by_label("Connection link name")
    expect(link).to_have_value("main_ai")
    link.fill("9 Bad")
    # Live check while typing...
    expect(page.locator("#id_link_name_status")).to_contain_text("Must start with a lower case letter")
    expect(link).to_have_attribute("aria-invalid", "true")
    page.get_by_label("API key").fill("Bearer sk-kept-00000000000000")
    page.get_by_role("button", name="Create and Connect").click()
    # ...and the server's answer next to the field, with everything typed kept (the key too:
    # nothing was stored, and it lives only in this answer).
    error = page.locator("#id_link_name_error")
    expect(error).to_contain_text("Must start with a lower case letter")
    expect(page.get_by_label("Connection name")).to_have_value("Main AI")
    expect(page.get_by_label("Connection link name")).to_have_value("9 Bad")
    expect(page.get_by_label("API key")).to_have_value("Bearer sk-kept-00000000000000")
    assert not Connection.objects.exists()


def test_link_name_taken_is_reported_live(admin_page, upstream):
    page = admin_page
    fill_custom_api_key_service(page, upstream)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/connections/acme_main/")
    page.goto("/connections/new/openai/")
    page.get_by_label("Connection name").fill("Acme main")
    expect(page.locator("#id_link_name_status")).to_contain_text("Another connection already uses this link name")
