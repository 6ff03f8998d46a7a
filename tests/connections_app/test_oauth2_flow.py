"""OAuth 2.0 against a real authorization server (Authlib's server side) on loopback.

The Django test client plays the browser on our side (it keeps the binding cookie) and
``requests`` plays it at the provider, so the whole redirect dance runs over HTTP.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from connections_app.models import AuthorizeLink, Connection, Event, OAuthState
from tests.factories import (
    CALLBACK,
    CLIENT_SECRET,
    consent,
    finish,
    oauth2_service,
    start,
)

pytestmark = pytest.mark.django_db

@pytest.fixture
def provider(oauth2_server):
    oauth2_server.auto_approve = True
    return oauth2_server


def setup(admin, provider, *, method="client_secret_post", scopes=("read",), service_link="acme_oauth", **oauth2):
    provider.register_client("cnx-client", CLIENT_SECRET, [CALLBACK], scope="read write", token_endpoint_auth_method=method)
    data = oauth2_service(provider, service_link, token_endpoint_auth_method=method, **oauth2)
    assert admin.post("/api/v1/services/", data, format="json").status_code == 201
    response = admin.post("/api/v1/connections/", {"name": "Acme", "link_name": "acme_main", "service": service_link, "scopes": list(scopes)}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["authorize_url"].startswith("http://testserver/oauth/authorize/")
    return body["authorize_url"]


def connect(admin, provider, **kwargs) -> Client:
    browser = Client()
    response = finish(browser, consent(start(browser, setup(admin, provider, **kwargs))))
    assert response.status_code == 302 and response["Location"] == "/connections/acme_main/?connected=1", response.content
    return browser


def test_full_authorization_code_flow_with_pkce(admin, provider):
    authorize_url = setup(admin, provider, scopes=("read", "write"))
    browser = Client()
    provider_url = start(browser, authorize_url)
    query = parse_qs(urlsplit(provider_url).query)
    assert query["response_type"] == ["code"] and query["client_id"] == ["cnx-client"]
    assert query["redirect_uri"] == [CALLBACK] and query["scope"] == ["read write"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["access_type"] == ["offline"]
    assert len(query["state"][0]) >= 43  # 256 bits, url-safe
    response = finish(browser, consent(provider_url))
    assert response.status_code == 302 and response["Referrer-Policy"] == "no-referrer"
    token_request = provider.token_requests[-1]
    assert token_request["form"]["redirect_uri"] == CALLBACK  # identical to the authorize request
    assert token_request["form"]["code_verifier"]
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == "connected" and connection.connected_at and connection.expires_at
    assert connection.credentials["access_token"] and connection.credentials["refresh_token"]
    assert provider.grant_counts["authorization_code"] == 1
    envelope = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()
    assert envelope["status_code"] == 200 and envelope["body"]["user"] == "tester"
    assert Event.objects.filter(action="connection.connected", target="acme_main").exists()


def test_client_secret_basic_and_custom_delimiter(admin, provider):
    connect(admin, provider, method="client_secret_basic", scope_delimiter=",", pkce=False, scopes=("read",))
    request = provider.token_requests[-1]
    assert request["headers"].get("Authorization", "").startswith("Basic ")
    assert "client_secret" not in request["form"] and "code_verifier" not in request["form"]
    assert Connection.objects.get(link_name="acme_main").status == "connected"


def test_custom_token_prefix_travels_in_the_header(admin, provider):
    provider.extra_token_types = ["Zoho-oauthtoken"]
    connect(admin, provider, token_prefix="Zoho-oauthtoken")
    envelope = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()
    assert envelope["status_code"] == 200 and envelope["body"]["user"] == "tester"


def test_query_placement_sends_access_token(admin, provider):
    provider.register_client("cnx-client", CLIENT_SECRET, [CALLBACK], scope="read write")
    data = oauth2_service(provider)
    data["param_type"] = "query"
    admin.post("/api/v1/services/", data, format="json")
    link = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_oauth", "scopes": ["read"]}, format="json").json()["authorize_url"]
    browser = Client()
    finish(browser, consent(start(browser, link)))
    envelope = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me-param"}, format="json").json()
    assert envelope["status_code"] == 200


def test_client_credentials_needs_no_consent(admin, provider):
    provider.register_client("cnx-client", CLIENT_SECRET, [CALLBACK], scope="read write")
    data = oauth2_service(provider, grant_type="client_credentials")
    del data["oauth2"]["authorize_url"]
    assert admin.post("/api/v1/services/", data, format="json").status_code == 201
    body = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_oauth", "scopes": ["read"]}, format="json").json()
    assert body["status"] == "connected" and body["authorize_url"] is None and body["expires_at"]
    assert provider.grant_counts["client_credentials"] == 1
    assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"] == 200
    Connection.objects.filter(link_name="acme_main").update(expires_at=timezone.now() - timedelta(seconds=5))
    assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"] == 200
    assert provider.grant_counts["client_credentials"] == 2  # fetched again when it expired


def test_authorize_link_is_single_use_and_expires(admin, provider):
    link = setup(admin, provider)
    browser = Client()
    start(browser, link)
    again = browser.get(urlsplit(link).path)
    assert again.status_code == 400 and b"already used" in again.content
    other = admin.post("/api/v1/connections/acme_main/reconnect/").json()["authorize_url"]
    AuthorizeLink.objects.filter(used_at__isnull=True).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = Client().get(urlsplit(other).path)
    assert expired.status_code == 400 and b"expired" in expired.content


def assert_nothing_stored(link_name="acme_main"):
    connection = Connection.objects.get(link_name=link_name)
    assert connection.status == "pending" and connection.credentials_encrypted == "" and connection.error
    return connection


def test_provider_error_is_shown_escaped(admin, provider):
    browser = Client()
    location = start(browser, setup(admin, provider))
    real_state = parse_qs(urlsplit(location).query)["state"][0]
    response = browser.get("/oauth/callback", {"state": real_state, "error": "access_denied", "error_description": "<script>alert(1)</script>"})
    assert response.status_code == 400
    assert b"<script>alert(1)</script>" not in response.content and b"&lt;script&gt;" in response.content
    assert response["Cache-Control"] and "no-store" in response["Cache-Control"]
    connection = assert_nothing_stored()
    assert "access_denied" in connection.error


@pytest.mark.parametrize("case", ["missing", "forged", "other_browser", "expired", "replayed"])
def test_bad_state_is_refused_before_the_token_endpoint(admin, provider, case):
    browser = Client()
    callback = consent(start(browser, setup(admin, provider)))
    parts = urlsplit(callback)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if case == "replayed":
        assert finish(browser, callback).status_code == 302
        Connection.objects.filter(link_name="acme_main").update(status="pending", credentials_encrypted="")
    before = provider.grant_attempts["authorization_code"]
    if case == "missing":
        params.pop("state")
    elif case == "forged":
        params["state"] = "forged-" + params["state"][7:]
    elif case == "other_browser":
        browser = Client()
    elif case == "expired":
        OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = browser.get("/oauth/callback", params)
    assert response.status_code == 400
    assert provider.grant_attempts["authorization_code"] == before  # the token endpoint was never called
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == "pending" and connection.credentials_encrypted == ""


@pytest.mark.parametrize("fault", ["500", "html", "garbage_json", "huge", "missing_access_token", "invalid_grant"])
def test_failing_token_endpoint_shows_a_page_and_stores_nothing(admin, provider, fault):
    browser = Client()
    callback = consent(start(browser, setup(admin, provider)))
    provider.set_token_fault(fault)
    response = finish(browser, callback)
    assert response.status_code == 400 and b"token exchange failed" in response.content.lower()
    assert_nothing_stored()


def test_callback_for_a_deleted_connection(admin, provider):
    browser = Client()
    callback = consent(start(browser, setup(admin, provider)))
    admin.delete("/api/v1/connections/acme_main/")
    response = finish(browser, callback)
    assert response.status_code == 400 and b"does not match any consent" in response.content


def test_wrong_issuer_is_refused(admin, provider):
    provider.send_iss = True
    provider.issuer = "https://evil.example"
    browser = Client()
    response = finish(browser, consent(start(browser, setup(admin, provider))))
    assert response.status_code == 400
    assert_nothing_stored()


def test_matching_issuer_is_accepted(admin, provider):
    provider.send_iss = True
    connect(admin, provider)
    assert Connection.objects.get(link_name="acme_main").status == "connected"


def test_reconnect_keeps_old_tokens_working_until_consent_finishes(admin, provider):
    connect(admin, provider)
    old = Connection.objects.get(link_name="acme_main").credentials["access_token"]
    link = admin.post("/api/v1/connections/acme_main/reconnect/").json()["authorize_url"]
    assert admin.get("/api/v1/connections/acme_main/").json()["status"] == "connected"
    assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"] == 200
    browser = Client()
    finish(browser, consent(start(browser, link)))
    assert Connection.objects.get(link_name="acme_main").credentials["access_token"] != old


def test_changing_scopes_makes_it_pending_with_a_new_link(admin, provider):
    connect(admin, provider)
    response = admin.patch("/api/v1/connections/acme_main/", {"scopes": ["read", "write"]}, format="json").json()
    assert response["status"] == "pending" and response["authorize_url"]
    assert Connection.objects.get(link_name="acme_main").credentials["access_token"]  # kept meanwhile
    browser = Client()
    finish(browser, consent(start(browser, response["authorize_url"])))
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == "connected" and connection.scopes == ["read", "write"]
    assert bad_scope(admin).status_code == 400


def bad_scope(admin):
    return admin.patch("/api/v1/connections/acme_main/", {"scopes": ["admin"]}, format="json")


def test_revoke_and_delete_call_the_revocation_endpoint(admin, provider):
    connect(admin, provider)
    revoked = admin.post("/api/v1/connections/acme_main/revoke/").json()
    assert revoked["status"] == "revoked"
    assert provider.revocation_count >= 1
    assert Connection.objects.get(link_name="acme_main").credentials_encrypted == ""


def test_failing_revocation_does_not_block_the_wipe(admin, provider):
    connect(admin, provider)
    admin.patch("/api/v1/services/acme_oauth/", {"oauth2": {"revoke_url": "http://127.0.0.1:9/nothing"}}, format="json")
    assert admin.delete("/api/v1/connections/acme_main/").status_code == 204
    assert not Connection.objects.filter(link_name="acme_main").exists()


def test_upstream_401_triggers_one_refresh_and_retry(admin, provider):
    connect(admin, provider)
    provider.revoke_all_access_tokens()
    envelope = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()
    assert envelope["status_code"] == 200
    assert provider.grant_counts["refresh_token"] == 1


def test_invalid_grant_on_refresh_means_needs_reauth(admin, provider):
    connect(admin, provider)
    provider.refresh_fault_invalid_grant = True
    Connection.objects.filter(link_name="acme_main").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == "needs_reauth" and "invalid_grant" in connection.error
    assert Event.objects.filter(action="connection.needs_reauth").count() == 1


def test_expired_token_is_refreshed_before_the_call_and_rotation_is_saved(admin, provider):
    connect(admin, provider)
    before = Connection.objects.get(link_name="acme_main").credentials
    # An hour-long token with 30 s left (the leeway scales with the lifetime: tokens.refresh_leeway).
    Connection.objects.filter(link_name="acme_main").update(
        expires_at=timezone.now() + timedelta(seconds=30), last_refreshed_at=timezone.now() - timedelta(hours=1),
    )
    assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"] == 200
    after = Connection.objects.get(link_name="acme_main")
    assert provider.grant_counts["refresh_token"] == 1
    assert after.credentials["refresh_token"] != before["refresh_token"]  # rotated and saved
    assert after.last_refreshed_at and after.expires_at > timezone.now() + timedelta(minutes=30)


def test_a_connection_revoked_while_its_token_is_refreshed_stays_revoked(admin, provider, monkeypatch):
    from connections_app.auth.oauth2 import grants

    connect(admin, provider)
    stamped = Connection.objects.get(link_name="acme_main").last_refreshed_at
    real = grants.call_token_endpoint

    def revoke_meanwhile(*args, **kwargs):
        token = real(*args, **kwargs)  # the provider really issues a new token...
        Connection.objects.filter(link_name="acme_main").update(status="revoked", credentials_encrypted="")  # ...as an admin revokes
        return token

    monkeypatch.setattr(grants, "call_token_endpoint", revoke_meanwhile)
    response = admin.post("/api/v1/connections/acme_main/refresh/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"
    row = Connection.objects.get(link_name="acme_main")
    assert provider.grant_counts["refresh_token"] == 1
    assert row.status == "revoked" and row.credentials_encrypted == "" and row.last_refreshed_at == stamped
    assert row.refresh_lock_until is None and row.refresh_lock_owner == ""  # the lease was given back


def test_refresh_action(admin, provider, viewer):
    connect(admin, provider)
    Connection.objects.filter(link_name="acme_main").update(refresh_queued_at=timezone.now())  # as a sweep does
    body = admin.post("/api/v1/connections/acme_main/refresh/").json()
    assert body["status"] == "connected" and body["last_refreshed_at"]
    assert Connection.objects.get(link_name="acme_main").refresh_queued_at is None  # done: the next sweep may take it
    assert provider.grant_counts["refresh_token"] == 1
    assert viewer.post("/api/v1/connections/acme_main/refresh/").status_code == 403


def test_test_action_uses_verify(admin, provider):
    connect(admin, provider)
    assert admin.post("/api/v1/connections/acme_main/test/").json()["ok"] is True


def test_preconfigured_service_needs_the_organisation_client(admin):
    response = admin.post("/api/v1/connections/", {"name": "G", "link_name": "gh", "service": "github"}, format="json")
    assert response.status_code == 400 and "No OAuth client" in response.json()["error"]["message"]


def test_preconfigured_zoho_uses_the_data_centre(admin):
    admin.put("/api/v1/services/zoho/client/", {"client_id": "1000.ABC", "client_secret": "zoho-secret"}, format="json")
    body = admin.post("/api/v1/connections/", {
        "name": "Zoho EU", "link_name": "zoho_eu", "service": "zoho", "scopes": ["Desk.tickets.READ", "Desk.tickets.ALL"],
        "config": {"dc": "eu"},
    }, format="json").json()
    location = Client().post(urlsplit(body["authorize_url"]).path)["Location"]
    parts = urlsplit(location)
    query = parse_qs(parts.query)
    assert parts.hostname == "accounts.zoho.eu"
    assert query["scope"] == ["Desk.tickets.READ,Desk.tickets.ALL"] and query["access_type"] == ["offline"]
    assert query["client_id"] == ["1000.ABC"]
    assert "zoho-secret" not in location


def test_secrets_never_in_responses_or_pages(admin, provider):
    browser = connect(admin, provider)
    connection = Connection.objects.get(link_name="acme_main")
    secrets = [connection.credentials["access_token"], connection.credentials["refresh_token"], CLIENT_SECRET]
    pages = [
        admin.get("/api/v1/connections/acme_main/").content,
        admin.get("/api/v1/services/acme_oauth/").content,
        admin.get("/api/v1/connections/").content,
        admin.get("/api/v1/events/").content,
        admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").content,
    ]
    browser.force_login(admin.user)
    pages.append(browser.get("/connections/acme_main/").content)
    for page in pages:
        for secret in secrets:
            assert secret.encode() not in page


def test_a_state_from_another_flow_or_connection_is_refused(admin, provider):
    browser = Client()
    location = start(browser, setup(admin, provider))
    state = parse_qs(urlsplit(location).query)["state"][0]
    # The OAuth 2.0 state presented to the OAuth 1.0a callback (another service's flow).
    assert browser.get("/oauth1/callback", {"oauth_token": state, "oauth_verifier": "x"}).status_code == 400
    # Another organisation's browser holding its own consent cookie cannot finish ours.
    other = Client()
    other.cookies["cnx_oauth_browser"] = "someone-elses-cookie"
    assert other.get("/oauth/callback", {"state": state, "code": "stolen"}).status_code == 400
    assert provider.grant_attempts["authorization_code"] == 0
    assert Connection.objects.get(link_name="acme_main").credentials_encrypted == ""
