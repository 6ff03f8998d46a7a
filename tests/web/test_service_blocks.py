"""The custom-service page's fields come from the auth types' blocks of the service definition:
an option declared there appears on the page, typed, labelled and judged, with no web edit."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field, StrictBool

from connections_app.auth.oauth1 import OAuth1, OAuth1Config
from connections_app.web.forms.custom_services import CustomServicePage
from connections_app.web.forms.service_blocks import block_fields
from services_catalog.fields import SECRET_FIELD, ClientSecret, StringMap, Url

from .conftest import custom_form
from tests.factories import error_of

pytestmark = pytest.mark.django_db


class OAuth1WithMore(OAuth1Config):
    """OAuth 1 as if its module had declared four more options."""

    nonce_size: Annotated[Literal["16", "32"], Field(description="Bytes of randomness in each nonce.")] = "32"
    realm_url: Annotated[Url | None, Field(title="Realm (a URL)")] = None
    send_version: StrictBool = True
    extra_headers: StringMap = {}
    signing_key: Annotated[ClientSecret | None, SECRET_FIELD] = None


def oauth1_form(**changes):
    return custom_form(**{
        "auth_type": "oauth1", "param-0-key": "", "param-0-display_name": "", "param-0-value": "",
        "oauth1_consumer_key": "ck", "oauth1_consumer_secret": "consumer-secret-0000",
        "oauth1_request_token_url": "https://auth.acme.example/request_token",
        "oauth1_authorize_url": "https://auth.acme.example/authorize",
        "oauth1_access_token_url": "https://auth.acme.example/access_token", **changes,
    })


@pytest.fixture
def more_options(monkeypatch):
    monkeypatch.setattr(OAuth1, "section_model", OAuth1WithMore)


def test_an_option_declared_in_a_block_appears_on_the_page(more_options, admin_web):
    html = admin_web.get("/connections/new/?tab=custom").content.decode()
    fieldset = html[html.index('data-auth-only="oauth1"'):html.index('data-auth-only="oauth2"')]
    # A choice, with its description as help; a URL with its title as label; a check box
    # ticked by its default; a map as lines; a secret as a password input.
    assert '<select name="oauth1_nonce_size"' in fieldset and '<option value="32" selected>32</option>' in fieldset
    assert "Bytes of randomness in each nonce." in fieldset
    assert '<input type="url" name="oauth1_realm_url"' in fieldset and ">Realm (a URL) <span" in fieldset
    assert '<input type="checkbox" name="oauth1_send_version"' in fieldset and "checked" in fieldset.split('name="oauth1_send_version"')[1].split(">")[0]
    assert '<textarea name="oauth1_extra_headers"' in fieldset
    assert '<input type="password" name="oauth1_signing_key"' in fieldset
    # Options a block declares after its common ones wait under "More options".
    more = fieldset[fieldset.index("<summary>More options</summary>"):]
    assert 'name="oauth1_nonce_size"' in more and 'name="oauth1_consumer_key"' not in more


def test_an_option_declared_in_a_block_reaches_the_definition_typed(more_options):
    page = CustomServicePage(oauth1_form(
        oauth1_nonce_size="16", oauth1_realm_url="https://auth.acme.example/realm", oauth1_send_version="",
        oauth1_extra_headers="X-Team: blue\nX-Env: test", oauth1_signing_key="",
    ))
    assert all([part.is_valid() for part in page.parts])  # the forms; the definition built at start-up knows no new option
    block = page.service_data()["oauth1"]
    assert block["nonce_size"] == "16" and block["realm_url"] == "https://auth.acme.example/realm"
    assert block["send_version"] is False and block["extra_headers"] == {"X-Team": "blue", "X-Env": "test"}
    assert "signing_key" not in block  # an empty secret is left out (an edit keeps the stored one)


def test_an_error_of_a_declared_option_shows_next_to_its_field(more_options):
    page = CustomServicePage(oauth1_form(oauth1_extra_headers="no colon here"))
    assert not page.is_valid()
    assert page.service.errors["oauth1_extra_headers"] == ["Write one name: value per line."]
    page = CustomServicePage(oauth1_form())
    page.is_valid()
    page._add_service_error("oauth1.extra_headers.X-Team", "Must be one line.")
    assert page.service.errors["oauth1_extra_headers"] == ["Must be one line."]


def test_every_field_of_the_oauth2_block_is_on_the_page(admin_web):
    from connections_app.auth.oauth2 import OAuth2

    html = admin_web.get("/connections/new/?tab=custom").content.decode()
    for name in OAuth2.section_model.model_fields:
        assert f'name="oauth2_{name}"' in html, name
    assert [f.form_name for f in block_fields(OAuth2)][:2] == ["oauth2_client_id", "oauth2_client_secret"]


def oauth2_form(**changes):
    return custom_form(**{
        "auth_type": "oauth2", "param-0-key": "", "param-0-display_name": "", "param-0-value": "",
        "oauth2_client_id": "cid", "oauth2_client_secret": "s3cret-value", "oauth2_grant_type": "authorization_code",
        "oauth2_authorize_url": "https://a.example/authorize", "oauth2_token_url": "https://a.example/token", **changes,
    })


def test_the_definitions_errors_land_on_their_fields(admin_web):
    # A field's own rule, under "More options": shown next to it, and the section unfolded.
    html = admin_web.post("/connections/new/", oauth2_form(oauth2_token_prefix="two words")).content.decode()
    assert "single word" in error_of(html, "oauth2_token_prefix")
    assert '<details class="more" open>' in html
    # A rule of the block across fields (the grant needs an authorize URL), and one of a map.
    html = admin_web.post("/connections/new/", oauth2_form(oauth2_authorize_url="")).content.decode()
    assert "This field is required." in error_of(html, "oauth2_authorize_url")
    html = admin_web.post("/connections/new/", oauth2_form(oauth2_authorize_params="state: mine")).content.decode()
    assert "May not set state" in error_of(html, "oauth2_authorize_params")


def test_the_edit_page_unfolds_more_options_only_when_one_is_set(admin_web):
    from connections_app import services
    from connections_app.models import Organisation

    org = Organisation.objects.get()
    for link_name, extra in (("plain_oauth", {}), ("prefixed_oauth", {"token_prefix": "token"})):
        services.custom_service_create(organisation=org, actor=None, definition=services.custom_service_parse({
            "link_name": link_name, "name": link_name, "auth_type": "oauth2", "base_url": "https://api.acme.example",
            "oauth2": {"client_id": "cid", "client_secret": "s", "authorize_url": "https://a.example/auth",
                       "token_url": "https://a.example/token", **extra},
        }))
    plain = admin_web.get("/services/plain_oauth/edit/").content.decode()
    prefixed = admin_web.get("/services/prefixed_oauth/edit/").content.decode()
    assert '<details class="more" open>' not in plain
    assert '<details class="more" open>' in prefixed and 'value="token"' in prefixed
