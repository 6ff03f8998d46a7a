"""What a newcomer tripped over (issue 14), in Chromium: copyable redirect URIs and the way
back to the connection form, data-centre hosts filled in as chosen, "Save and Connect",
numbered rows, snippet tabs with a scroll cue on a phone, screenshots kept out of the tree."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from connections_app import services
from connections_app.models import Role, ServiceClient
from tests.browser.conftest import DOCS_IMG, new_context, screenshots_dir, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_set_the_client_from_the_connection_form_copy_the_redirect_uri_and_come_back(admin_page, base_url):
    page = admin_page
    page.goto("/connections/new/zoho/")
    page.get_by_role("link", name="Set the client").click()
    page.wait_for_url("**/services/zoho/client/?next=/connections/new/zoho/")
    page.get_by_role("button", name="Copy the redirect URI").click()
    expect(page.locator(".copied").first).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{base_url}/oauth/callback"
    page.get_by_label("Client ID").fill("1000.ABC")
    page.get_by_label("Client secret").fill("zoho-secret-000")
    page.get_by_role("button", name="Save client and go back").click()
    page.wait_for_url("**/connections/new/zoho/")
    expect(page.locator(".flash.success")).to_contain_text("The OAuth client for Zoho OAuth is saved.")
    assert ServiceClient.objects.filter(service_link_name="zoho").exists()


def test_hosts_follow_the_chosen_data_centre(admin_page):
    page = admin_page
    page.goto("/connections/new/zoho/")
    hosts = page.locator("dl.facts")
    expect(hosts).to_contain_text("www.zohoapis.com")
    expect(hosts).not_to_contain_text("{dc}")
    page.get_by_label("Data centre").select_option(label="Europe (zohoapis.eu)")
    expect(hosts).to_contain_text("www.zohoapis.eu")
    expect(hosts).to_contain_text("desk.zoho.eu")


def test_custom_oauth_service_button_and_numbered_rows(admin_page):
    page = admin_page
    page.goto("/connections/new/?tab=custom")
    save = page.locator("form[data-custom-service] .formactions button.primary")
    expect(save).to_have_text("Save")
    page.get_by_label("Authentication type").select_option("oauth2")
    expect(save).to_have_text("Save and Connect")
    page.get_by_label("Authentication type").select_option("basic")
    expect(save).to_have_text("Save")
    page.get_by_label("Authentication type").select_option("api_key")
    params = page.locator("[data-formset='param']")
    params.get_by_role("button", name="Add", exact=True).click()
    expect(params.get_by_label("Parameter 3 key")).to_be_focused()
    params.locator("[data-row]").nth(0).get_by_role("button", name="Remove this row").click()
    expect(params.get_by_label("Parameter 1 key")).to_have_count(1)
    expect(params.get_by_label("Parameter 2 key")).to_have_count(1)
    expect(params.get_by_label("Parameter 3 key")).to_have_count(0)


def test_snippet_tabs_show_a_scroll_cue_on_a_phone(browser, base_url, org, make_member):
    user = make_member(Role.ADMIN, username="alice")
    services.connection_create(organisation=org, actor=user, name="OpenAI", link_name="openai_main", service="openai",
                               credentials={"Authorization": "Bearer sk-demo-000000000000"})
    phone = new_context(browser, base_url, viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    sign_in(page, user)
    page.goto("/connections/openai_main/")
    tablist = page.get_by_role("tablist", name="Language")
    assert tablist.evaluate("el => el.scrollWidth > el.clientWidth"), "the tabs fit: nothing to test at this width"
    more = page.get_by_test_id("tabs-more")
    expect(more).to_be_visible()
    page.get_by_role("tab", name="Deluge").focus()
    page.keyboard.press("End")  # the last tab scrolls into view; the cue goes
    expect(page.get_by_role("tab", name="JavaScript")).to_be_in_viewport()
    expect(more).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    phone.close()


def test_the_header_says_who_where_and_as_what(admin_page):
    expect(admin_page.get_by_test_id("whoami")).to_have_text("Signed in as admin-acme, admin in Acme")
    icon = admin_page.locator("link[rel=icon]").get_attribute("href")
    assert admin_page.request.get(icon).status == 200


def test_screenshots_go_to_a_temporary_folder_unless_asked():
    if os.environ.get("SCREENSHOTS_DIR"):
        pytest.skip("screenshots were asked for")
    assert screenshots_dir() != DOCS_IMG and not screenshots_dir().is_relative_to(DOCS_IMG.parent.parent)
