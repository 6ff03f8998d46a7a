"""Every core action works with JavaScript switched off."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connections_app.models import Connection, ConnectionStatus, CustomService, Role
from tests.browser.conftest import new_context, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "upstream-secret-0001"


@pytest.fixture
def nojs_page(browser, base_url, make_member):
    context = new_context(browser, base_url, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, make_member(Role.ADMIN))
    yield page
    context.close()


def test_catalog_search_and_create_without_js(nojs_page):
    page = nojs_page
    page.get_by_role("link", name="Create Connection").first.click()
    page.get_by_label("Search services").fill("openai")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("[data-catalog] .tile")).to_have_count(1)
    page.get_by_role("link", name=re.compile("^OpenAI")).click()
    page.get_by_label("Connection name").fill("Main AI")
    page.get_by_label("Connection link name").fill("main_ai")
    page.get_by_label("API key").fill("Bearer sk-0123456789abcdef")
    page.get_by_role("button", name="Create and Connect").click()
    page.wait_for_url("**/connections/main_ai/")
    expect(page.get_by_test_id("status")).to_have_text("Connected")
    # All four snippets are on the page, one after the other.
    for key in ("deluge", "curl", "python", "javascript"):
        expect(page.locator(f"#code-{key}")).to_be_visible()


def test_custom_service_rows_and_delete_without_js(nojs_page, upstream):
    page = nojs_page
    page.goto("/connections/new/?tab=custom")
    rows = page.locator("[data-formset='param'] [data-row]")
    expect(rows).to_have_count(2)
    page.get_by_label("Service name").fill("Acme API")
    page.get_by_label("Service link name").fill("acme_api")
    rows.nth(0).get_by_label("Parameter 1 key").fill("X-Api-Key")
    rows.nth(0).get_by_label("Parameter 1 value for this connection").fill(SECRET)
    page.get_by_role("button", name="Add another row").first.click()
    # The form comes back with one more row, everything typed kept (the secret too), no errors.
    expect(rows).to_have_count(3)
    expect(page.get_by_label("Service name")).to_have_value("Acme API")
    expect(rows.nth(0).get_by_label("Parameter 1 key")).to_have_value("X-Api-Key")
    expect(rows.nth(0).get_by_label("Parameter 1 value for this connection")).to_have_value(SECRET)
    expect(page.locator(".errorlist")).to_have_count(0)
    rows.nth(2).get_by_label("Parameter 3 key").fill("X-Account")
    rows.nth(2).get_by_label("Parameter 3 value for this connection").fill("acct-1")
    page.get_by_label("Base URL").fill(upstream.url)
    page.get_by_label("Connection name", exact=True).fill("Acme main")
    page.get_by_label("Connection link name").fill("acme_main")
    page.get_by_role("button", name="Save", exact=True).last.click()
    page.wait_for_url("**/connections/acme_main/")
    expect(page.get_by_test_id("status")).to_have_text("Connected")
    service = CustomService.objects.get(link_name="acme_api")
    assert [p["key"] for p in service.definition["parameters"]] == ["X-Api-Key", "X-Account"]

    # Delete, with its confirmation page.
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete Acme main?")).to_be_visible()
    page.get_by_role("button", name="Delete connection").click()
    page.wait_for_url("**/")
    expect(page.locator(".flash.success")).to_contain_text("is deleted")
    assert not Connection.objects.exists()


def test_revoke_without_js(nojs_page):
    page = nojs_page
    page.goto("/connections/new/openai/")
    page.get_by_label("Connection name").fill("Main AI")
    page.get_by_label("Connection link name").fill("main_ai")
    page.get_by_label("API key").fill("Bearer sk-0123456789abcdef")
    page.get_by_role("button", name="Create and Connect").click()
    page.get_by_role("link", name="Revoke").click()
    page.get_by_role("button", name="Revoke connection").click()
    expect(page.get_by_test_id("status")).to_have_text("Revoked")
    assert Connection.objects.get().status == ConnectionStatus.REVOKED
