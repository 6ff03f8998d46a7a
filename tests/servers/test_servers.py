"""Self-tests for the loopback OAuth servers, driven by Authlib's *client* side
over real HTTP. If these pass, a product test failing against these servers
points at the product, not at the fixture."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import threading
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth1Session, OAuth2Session
from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string

from tests.servers.oauth1_server import create_oauth1_server
from tests.servers.oauth2_server import create_oauth2_server
from tests.servers.runner import start_httpbin, start_wsgi

# Never requested: the dance stops at the Location header, as a browser test
# would stop before the product's callback view.
REDIRECT_URI = "http://127.0.0.1:9/callback"
CLIENT_ID = "connections-test"
CLIENT_SECRET = "s3cret-for-tests"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def consent_form(page_html: str) -> str:
    """The consent form's action, as a browser would resolve the HTML entity escaping."""
    match = re.search(r'<form[^>]*action="([^"]+)"', page_html)
    assert match, page_html
    return html.unescape(match.group(1))


# --------------------------------------------------------------------------- #
# runner
# --------------------------------------------------------------------------- #


def test_runner_serves_and_stops():
    from flask import Flask

    app = Flask("tiny")
    app.get("/ping")(lambda: "pong")
    server = start_wsgi(app)
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert requests.get(f"{server.url}/ping", timeout=5).text == "pong"
    finally:
        server.stop()
    server.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/ping", timeout=2)


def test_httpbin_echoes():
    server = start_httpbin()
    try:
        resp = requests.get(f"{server.url}/get", params={"a": "1"}, headers={"X-Probe": "yes"}, timeout=5)
        assert resp.status_code == 200
        assert resp.json()["args"] == {"a": "1"}
        assert resp.json()["headers"]["X-Probe"] == "yes"
    finally:
        server.stop()


# --------------------------------------------------------------------------- #
# OAuth 2
# --------------------------------------------------------------------------- #


@pytest.fixture
def oauth2():
    app, control = create_oauth2_server()
    control.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], scope="read write admin")
    server = start_wsgi(app)
    yield server, control
    server.stop()


def session2(server, **kwargs) -> OAuth2Session:
    kwargs.setdefault("client_id", CLIENT_ID)
    kwargs.setdefault("client_secret", CLIENT_SECRET)
    kwargs.setdefault("redirect_uri", REDIRECT_URI)
    kwargs.setdefault("scope", "read write")
    kwargs.setdefault("token_endpoint_auth_method", "client_secret_post")
    kwargs.setdefault("code_challenge_method", "S256")
    return OAuth2Session(**kwargs)


def authorize(server, sess: OAuth2Session, code_verifier=None, approve=True, **params):
    """Drive the consent page like a user: GET it, click a button, return the
    redirect Location (not followed)."""
    url, state = sess.create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=code_verifier, **params)
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["Content-Type"]
    decision = requests.post(
        urljoin(server.url, consent_form(page.text)),
        data={"confirm": "yes" if approve else "no"},
        allow_redirects=False,
        timeout=5,
    )
    assert decision.status_code == 302, decision.text
    return decision.headers["Location"], state, page.text


def obtain_token(server, control, **session_kwargs):
    """Shortcut through auto-approve for tests that only need a token."""
    control.auto_approve = True
    sess = session2(server, **session_kwargs)
    verifier = generate_token(48)
    url, _ = sess.create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=verifier)
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    token = sess.fetch_token(f"{server.url}/oauth/token", authorization_response=location, code_verifier=verifier)
    return sess, token


def test_authorization_code_with_pkce_full_dance(oauth2):
    server, control = oauth2
    sess = session2(server)
    verifier = generate_token(48)

    location, state, page = authorize(server, sess, code_verifier=verifier)

    assert re.findall(r'<li class="scope">([^<]+)</li>', page) == ["read", "write"]
    assert '<button name="confirm" value="yes">Approve</button>' in page
    assert '<button name="confirm" value="no">Deny</button>' in page
    assert location.startswith(REDIRECT_URI + "?")
    params = query_of(location)
    assert params["state"] == state
    assert "iss" not in params  # send_iss defaults to off

    token = sess.fetch_token(f"{server.url}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "read write"
    assert token["refresh_token"]

    sent = control.token_requests[-1]
    assert sent["grant_type"] == "authorization_code"
    assert sent["form"]["code_verifier"] == verifier
    assert sent["form"]["redirect_uri"] == REDIRECT_URI
    assert sent["client_auth_method"] == "client_secret_post"
    assert control.grant_counts == {"authorization_code": 1}
    assert control.authorization_requests[0]["args"]["code_challenge_method"] == "S256"

    me = sess.get(f"{server.url}/api/me", timeout=5)
    assert me.json() == {"user": "tester", "scope": "read write", "client_id": CLIENT_ID, "via": "bearer"}

    # A code is single-use.
    with pytest.raises(OAuthError) as exc:
        sess.fetch_token(f"{server.url}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert exc.value.error == "invalid_grant"


def test_pkce_wrong_verifier_is_rejected(oauth2):
    server, control = oauth2
    control.auto_approve = True
    sess = session2(server)
    url, _ = sess.create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=generate_token(48))
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    with pytest.raises(OAuthError) as exc:
        sess.fetch_token(f"{server.url}/oauth/token", authorization_response=location, code_verifier=generate_token(48))
    assert exc.value.error == "invalid_grant"
    assert control.grant_counts["authorization_code"] == 0


def test_require_pkce_refuses_request_without_challenge(oauth2):
    server, control = oauth2
    control.require_pkce = True
    sess = session2(server, code_challenge_method=None)
    url, state = sess.create_authorization_url(f"{server.url}/oauth/authorize")
    resp = requests.get(url, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    params = query_of(resp.headers["Location"])
    assert params["error"] == "invalid_request"
    assert params["state"] == state


def test_deny_redirects_with_access_denied_and_iss(oauth2):
    server, control = oauth2
    control.send_iss = True
    location, state, _ = authorize(server, session2(server), code_verifier=generate_token(48), approve=False)
    params = query_of(location)
    assert params["error"] == "access_denied"
    assert params["state"] == state
    assert params["iss"] == server.url
    assert "code" not in params


def test_iss_on_success_uses_configured_issuer(oauth2):
    server, control = oauth2
    control.send_iss = True
    control.issuer = "https://issuer.example"
    location, _, _ = authorize(server, session2(server), code_verifier=generate_token(48))
    assert query_of(location)["iss"] == "https://issuer.example"
    assert "code" in query_of(location)

    # The auto-approve shortcut goes through the same Authlib hook.
    control.auto_approve = True
    url, _ = session2(server).create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=generate_token(48))
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    assert query_of(location)["iss"] == "https://issuer.example"


@pytest.mark.parametrize("session, error", [
    ({"client_id": "nobody"}, "invalid_client"),
    ({"redirect_uri": "http://127.0.0.1:9/evil"}, "invalid_request"),
], ids=["unknown_client", "unregistered_redirect_uri"])
def test_a_bad_authorize_request_gets_an_error_page_not_a_redirect(oauth2, session, error):
    server, _ = oauth2
    url, _ = session2(server, **session).create_authorization_url(f"{server.url}/oauth/authorize")
    resp = requests.get(url, allow_redirects=False, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["error"] == error


def test_client_auth_method_is_enforced(oauth2):
    server, control = oauth2
    control.register_client("basic-client", "b-secret", [REDIRECT_URI], scope="read", token_endpoint_auth_method="client_secret_basic")
    wrong = session2(server, client_id="basic-client", client_secret="b-secret", scope="read")
    with pytest.raises(OAuthError) as exc:
        wrong.fetch_token(f"{server.url}/oauth/token", grant_type="client_credentials")
    assert exc.value.error == "invalid_client"

    right = session2(server, client_id="basic-client", client_secret="b-secret", scope="read", token_endpoint_auth_method="client_secret_basic")
    token = right.fetch_token(f"{server.url}/oauth/token", grant_type="client_credentials")
    assert token["access_token"]
    assert [r["client_auth_method"] for r in control.token_requests] == ["client_secret_post", "client_secret_basic"]
    assert control.token_requests[-1]["headers"]["Authorization"].startswith("Basic ")


def test_public_client_with_pkce(oauth2):
    server, control = oauth2
    control.register_client("public", None, [REDIRECT_URI], scope="read", token_endpoint_auth_method="none")
    control.auto_approve = True
    sess = session2(server, client_id="public", client_secret=None, scope="read", token_endpoint_auth_method="none")
    verifier = generate_token(48)
    url, _ = sess.create_authorization_url(f"{server.url}/oauth/authorize", code_verifier=verifier)
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    token = sess.fetch_token(f"{server.url}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert token["access_token"]
    assert control.token_requests[-1]["client_auth_method"] == "none"


def test_refresh_with_rotation(oauth2):
    server, control = oauth2
    sess, first = obtain_token(server, control)

    second = sess.refresh_token(f"{server.url}/oauth/token", refresh_token=first["refresh_token"])
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] and second["refresh_token"] != first["refresh_token"]
    assert control.grant_counts == {"authorization_code": 1, "refresh_token": 1}

    with pytest.raises(OAuthError) as exc:
        sess.refresh_token(f"{server.url}/oauth/token", refresh_token=first["refresh_token"])
    assert exc.value.error == "invalid_grant"

    # The new one works, and the access token it replaced is still live.
    sess.refresh_token(f"{server.url}/oauth/token", refresh_token=second["refresh_token"])
    assert control.grant_counts["refresh_token"] == 2
    assert control.grant_attempts["refresh_token"] == 3
    resp = requests.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {first['access_token']}"}, timeout=5)
    assert resp.status_code == 200


def test_refresh_without_rotation_keeps_refresh_token(oauth2):
    server, control = oauth2
    control.rotate_refresh_tokens = False
    sess, first = obtain_token(server, control)
    for _ in range(2):
        again = sess.refresh_token(f"{server.url}/oauth/token", refresh_token=first["refresh_token"])
        assert "refresh_token" not in again or again["refresh_token"] == first["refresh_token"]
    assert control.grant_counts["refresh_token"] == 2


def test_concurrent_refresh_one_wins(oauth2):
    server, control = oauth2
    _, first = obtain_token(server, control)
    control.token_delay_seconds = 0.3
    results = []

    def refresh():
        resp = requests.post(
            f"{server.url}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            timeout=10,
        )
        results.append((resp.status_code, resp.json()))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(code for code, _ in results)
    assert statuses == [200, 400]
    assert [body["error"] for code, body in results if code == 400] == ["invalid_grant"]


def test_refresh_fault_invalid_grant(oauth2):
    server, control = oauth2
    sess, first = obtain_token(server, control)
    control.refresh_fault_invalid_grant = True
    with pytest.raises(OAuthError) as exc:
        sess.refresh_token(f"{server.url}/oauth/token", refresh_token=first["refresh_token"])
    assert exc.value.error == "invalid_grant"
    control.refresh_fault_invalid_grant = False
    assert sess.refresh_token(f"{server.url}/oauth/token", refresh_token=first["refresh_token"])["access_token"]


def test_client_credentials(oauth2):
    server, control = oauth2
    sess = session2(server, scope="read")
    token = sess.fetch_token(f"{server.url}/oauth/token", grant_type="client_credentials")
    assert token["scope"] == "read"
    assert "refresh_token" not in token
    assert control.grant_counts == {"client_credentials": 1}
    me = sess.get(f"{server.url}/api/me", timeout=5).json()
    assert me == {"user": None, "scope": "read", "client_id": CLIENT_ID, "via": "bearer"}


def test_lifetime_and_no_refresh_token(oauth2):
    server, control = oauth2
    control.access_token_lifetime = 1
    control.issue_refresh_tokens = False
    sess, token = obtain_token(server, control)
    assert token["expires_in"] == 1
    assert "refresh_token" not in token
    time.sleep(1.2)
    resp = requests.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"


def test_revocation(oauth2):
    server, control = oauth2
    sess, token = obtain_token(server, control)
    me_url = f"{server.url}/api/me"

    sess.revoke_token(f"{server.url}/oauth/revoke", token=token["access_token"], token_type_hint="access_token")
    assert control.revoked == [token["access_token"]]
    assert requests.get(me_url, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5).status_code == 401
    # Revoking the access token leaves the refresh token usable...
    newer = sess.refresh_token(f"{server.url}/oauth/token", refresh_token=token["refresh_token"])

    # ...while revoking a refresh token kills it and its access token.
    resp = sess.revoke_token(f"{server.url}/oauth/revoke", token=newer["refresh_token"])
    assert resp.status_code == 200
    assert control.revocation_count == 2
    assert requests.get(me_url, headers={"Authorization": f"Bearer {newer['access_token']}"}, timeout=5).status_code == 401
    with pytest.raises(OAuthError) as exc:
        sess.refresh_token(f"{server.url}/oauth/token", refresh_token=newer["refresh_token"])
    assert exc.value.error == "invalid_grant"

    # Wrong client credentials are refused and not counted.
    bad = requests.post(f"{server.url}/oauth/revoke", data={"token": "x"}, auth=(CLIENT_ID, "wrong"), timeout=5)
    assert bad.status_code == 401
    assert control.revocation_count == 2


def test_custom_token_type_word(oauth2):
    server, control = oauth2
    _, token = obtain_token(server, control)
    headers = {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}

    refused = requests.get(f"{server.url}/api/me", headers=headers, timeout=5)
    assert refused.status_code == 401
    assert refused.json()["error"] == "unsupported_token_type"

    control.extra_token_types = ["Zoho-oauthtoken"]
    ok = requests.get(f"{server.url}/api/me", headers=headers, timeout=5)
    assert ok.status_code == 200
    assert ok.json()["via"] == "zoho-oauthtoken"
    # Bearer keeps working alongside.
    bearer = requests.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5)
    assert bearer.status_code == 200
    assert [r["via"] for r in control.resource_requests] == ["zoho-oauthtoken", "zoho-oauthtoken", "bearer"]
    assert [r["ok"] for r in control.resource_requests] == [False, True, True]


def test_missing_or_unknown_bearer(oauth2):
    server, _ = oauth2
    assert requests.get(f"{server.url}/api/me", timeout=5).status_code == 401
    resp = requests.get(f"{server.url}/api/me", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"
    assert "WWW-Authenticate" in resp.headers


def test_me_param_query_and_form(oauth2):
    server, control = oauth2
    _, token = obtain_token(server, control)
    url = f"{server.url}/api/me-param"

    by_query = requests.get(url, params={"access_token": token["access_token"]}, timeout=5)
    assert by_query.status_code == 200
    assert by_query.json()["via"] == "query"
    by_form = requests.post(url, data={"access_token": token["access_token"]}, timeout=5)
    assert by_form.status_code == 200
    assert by_form.json()["user"] == "tester"

    assert requests.get(url, params={"access_token": "bogus"}, timeout=5).status_code == 401
    assert requests.get(url, timeout=5).status_code == 401

    assert control.revoke_all_access_tokens() == 1
    dead = requests.get(url, params={"access_token": token["access_token"]}, timeout=5)
    assert dead.status_code == 401
    assert dead.json()["error"] == "invalid_token"


def cc_request(server, **kwargs):
    return requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        **kwargs,
    )


def test_a_json_only_token_endpoint_refuses_a_form_and_reads_a_json_object(oauth2):
    server, control = oauth2
    control.token_request_format = "json"
    fields = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    refused = cc_request(server, timeout=5)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    not_object = requests.post(f"{server.url}/oauth/token", json=[fields], timeout=5)
    assert not_object.status_code == 400 and control.grant_counts == {}
    wrong_secret = requests.post(f"{server.url}/oauth/token", json={**fields, "client_secret": "nope"}, timeout=5)
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    answer = requests.post(f"{server.url}/oauth/token", json=fields, timeout=5)
    assert answer.status_code == 200 and answer.json()["access_token"]
    assert control.grant_counts == {"client_credentials": 1}
    recorded = control.token_requests
    assert [r["json"] is None for r in recorded] == [True, True, False, False]
    assert recorded[-1]["json"] == fields and recorded[-1]["form"] == {} and recorded[-1]["client_auth_method"] == "client_secret_post"


def test_token_fault_500(oauth2):
    server, control = oauth2
    control.token_fault = "500"
    resp = cc_request(server, timeout=5)
    assert resp.status_code == 500
    assert control.grant_counts["client_credentials"] == 0
    assert control.grant_attempts["client_credentials"] == 1
    with pytest.raises(requests.HTTPError):
        session2(server).fetch_token(f"{server.url}/oauth/token", grant_type="client_credentials")


def test_token_fault_html(oauth2):
    server, control = oauth2
    control.token_fault = "html"
    resp = cc_request(server, timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        resp.json()


def test_token_fault_garbage_json(oauth2):
    server, control = oauth2
    control.token_fault = "garbage_json"
    resp = cc_request(server, timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        resp.json()


def test_token_fault_missing_access_token(oauth2):
    server, control = oauth2
    control.token_fault = "missing_access_token"
    body = cc_request(server, timeout=5).json()
    assert "access_token" not in body


def test_token_fault_huge(oauth2):
    server, control = oauth2
    control.token_fault = "huge"
    control.huge_bytes = 3 * 1024 * 1024
    resp = cc_request(server, timeout=10)
    assert resp.status_code == 200
    assert len(resp.content) > control.huge_bytes


def test_token_fault_invalid_grant(oauth2):
    server, control = oauth2
    control.token_fault = "invalid_grant"
    resp = cc_request(server, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"


def test_token_fault_slow(oauth2):
    server, control = oauth2
    control.token_fault = "slow"
    control.slow_seconds = 1.0
    with pytest.raises(requests.Timeout):
        cc_request(server, timeout=0.3)
    started = time.monotonic()
    resp = cc_request(server, timeout=5)
    assert time.monotonic() - started >= 0.9
    assert resp.status_code == 200  # slow, but a real answer


def test_token_fault_limited_times(oauth2):
    server, control = oauth2
    control.set_token_fault("500", times=2)
    assert [cc_request(server, timeout=5).status_code for _ in range(3)] == [500, 500, 200]
    assert control.token_fault is None
    with pytest.raises(ValueError):
        control.set_token_fault("teapot")


def test_stats_endpoint_and_reset(oauth2):
    server, control = oauth2
    obtain_token(server, control)
    stats = requests.get(f"{server.url}/_stats", timeout=5).json()
    assert stats["grant_counts"] == {"authorization_code": 1}
    assert stats["token_requests"] == 1
    control.reset_counts()
    assert requests.get(f"{server.url}/_stats", timeout=5).json()["grant_counts"] == {}
    assert control.token_requests == []


def test_unknown_option_is_rejected():
    with pytest.raises(TypeError):
        create_oauth2_server(auto_aprove=True)
    with pytest.raises(TypeError):
        create_oauth2_server(grant_counts={})
    with pytest.raises(TypeError):
        create_oauth1_server(nope=1)


# --------------------------------------------------------------------------- #
# OAuth 1
# --------------------------------------------------------------------------- #

CALLBACK_1 = "http://127.0.0.1:9/oauth1-callback"
CONSUMER_KEY = "consumer-key"
CONSUMER_SECRET = "consumer-secret"


def client_sign_hmac_sha256(client, request):
    """Client-side HMAC-SHA256, written independently of the server's verifier
    so the two can catch each other's mistakes."""
    base_string = generate_signature_base_string(request)
    quote = requests.utils.quote
    key = f"{quote(client.client_secret or '', safe='~')}&{quote(client.token_secret or '', safe='~')}"
    return base64.b64encode(hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()).decode()


@pytest.fixture(scope="module", autouse=True)
def hmac_sha256_client_method():
    # ClientAuth keeps its methods in a class-level dict, so this is global
    # for the process; registering the same function again is harmless.
    ClientAuth.register_signature_method("HMAC-SHA256", client_sign_hmac_sha256)


@pytest.fixture
def oauth1():
    app, control = create_oauth1_server()
    control.register_client(CONSUMER_KEY, CONSUMER_SECRET, CALLBACK_1)
    server = start_wsgi(app)
    yield server, control
    server.stop()


def oauth1_dance(server, signature_method="HMAC-SHA1", approve=True):
    sess = OAuth1Session(CONSUMER_KEY, CONSUMER_SECRET, redirect_uri=CALLBACK_1, signature_method=signature_method)
    request_token = sess.fetch_request_token(f"{server.url}/oauth1/request_token")
    assert request_token["oauth_callback_confirmed"] == "true"
    url = sess.create_authorization_url(f"{server.url}/oauth1/authorize")
    page = requests.get(url, allow_redirects=False, timeout=5)
    if page.status_code == 302:  # control.auto_approve
        location = page.headers["Location"]
    else:
        assert page.status_code == 200, page.text
        assert '<button name="confirm" value="yes">Approve</button>' in page.text
        decision = requests.post(
            urljoin(server.url, consent_form(page.text)),
            data={"confirm": "yes" if approve else "no"},
            allow_redirects=False,
            timeout=5,
        )
        assert decision.status_code == 302
        location = decision.headers["Location"]
    if not approve:
        return request_token, location
    assert location.startswith(CALLBACK_1 + "?")
    sess.parse_authorization_response(location)
    return sess.fetch_access_token(f"{server.url}/oauth1/access_token"), location


@pytest.mark.parametrize("signature_method", ["HMAC-SHA1", "PLAINTEXT", "HMAC-SHA256"])
def test_oauth1_dance(oauth1, signature_method):
    server, control = oauth1
    token, location = oauth1_dance(server, signature_method)
    assert token["oauth_token"] and token["oauth_token_secret"]
    assert "oauth_verifier" in query_of(location)
    assert control.grant_counts == {"request_token": 1, "access_token": 1}
    assert [r["signature_method"] for r in control.token_requests] == [signature_method] * 2


@pytest.mark.parametrize("signature_method", ["HMAC-SHA1", "PLAINTEXT", "HMAC-SHA256"])
@pytest.mark.parametrize("signature_type", ["HEADER", "QUERY", "BODY"])
def test_oauth1_protected_resource(oauth1, signature_method, signature_type):
    server, control = oauth1
    control.auto_approve = True
    token, _ = oauth1_dance(server)
    sess = OAuth1Session(
        CONSUMER_KEY,
        CONSUMER_SECRET,
        token=token["oauth_token"],
        token_secret=token["oauth_token_secret"],
        signature_method=signature_method,
        signature_type=signature_type,
    )
    url = f"{server.url}/api/me"
    if signature_type == "BODY":
        resp = sess.post(url, data={"note": "hello world"}, timeout=5)
    else:
        resp = sess.get(url, params={"q": "a b"}, timeout=5)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "user": "tester",
        "client_id": CONSUMER_KEY,
        "signature_method": signature_method,
        "signature_type": signature_type,
    }
    last = control.resource_requests[-1]
    assert (last["signature_method"], last["signature_type"], last["ok"]) == (signature_method, signature_type, True)


@pytest.mark.parametrize("signature_method", ["HMAC-SHA1", "PLAINTEXT", "HMAC-SHA256"])
def test_oauth1_wrong_signature_refused(oauth1, signature_method):
    server, control = oauth1
    control.auto_approve = True
    token, _ = oauth1_dance(server)
    sess = OAuth1Session(
        CONSUMER_KEY,
        "not-the-secret",
        token=token["oauth_token"],
        token_secret=token["oauth_token_secret"],
        signature_method=signature_method,
    )
    resp = sess.get(f"{server.url}/api/me", timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_signature"
    assert control.resource_requests[-1]["ok"] is False


def test_oauth1_replayed_nonce_refused(oauth1):
    server, control = oauth1
    control.auto_approve = True
    token, _ = oauth1_dance(server)
    auth = ClientAuth(CONSUMER_KEY, CONSUMER_SECRET, token=token["oauth_token"], token_secret=token["oauth_token_secret"])
    url = f"{server.url}/api/me"
    _, headers, _ = auth.prepare("GET", url, {}, b"")
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    replay = requests.get(url, headers=headers, timeout=5)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_nonce"


def test_oauth1_deny(oauth1):
    server, control = oauth1
    request_token, location = oauth1_dance(server, approve=False)
    params = query_of(location)
    assert params["denied"] == request_token["oauth_token"]
    assert params["error"] == "access_denied"
    assert "oauth_verifier" not in params
    assert control.grant_counts == {"request_token": 1}


def test_oauth1_unsupported_signature_method(oauth1):
    server, control = oauth1
    control.signature_methods = ["HMAC-SHA1"]
    sess = OAuth1Session(CONSUMER_KEY, CONSUMER_SECRET, redirect_uri=CALLBACK_1, signature_method="PLAINTEXT")
    with pytest.raises(OAuthError, match="unsupported_signature_method"):
        sess.fetch_request_token(f"{server.url}/oauth1/request_token")


def test_oauth1_revoked_tokens_refused(oauth1):
    server, control = oauth1
    control.auto_approve = True
    token, _ = oauth1_dance(server)
    sess = OAuth1Session(CONSUMER_KEY, CONSUMER_SECRET, token=token["oauth_token"], token_secret=token["oauth_token_secret"])
    assert sess.get(f"{server.url}/api/me", timeout=5).status_code == 200
    assert control.revoke_all_tokens() == 1
    resp = sess.get(f"{server.url}/api/me", timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"


def test_oauth1_stats(oauth1):
    server, control = oauth1
    control.auto_approve = True
    oauth1_dance(server)
    stats = requests.get(f"{server.url}/_stats", timeout=5).json()
    assert stats["grant_counts"] == {"request_token": 1, "access_token": 1}
