"""A canary secret of every kind, driven through every flow with logging at DEBUG, shows up
in no log line, response, page, exception, Celery message, MCP tool result or error, and
not in plaintext in the database."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.apps import apps
from django.db import connection as db
from django.test import Client
from django.utils import timezone

from connections_app.models import Connection, Membership, OAuthState
from connections_app.services import api_token_create
from tests.mcp.conftest import call as mcp_call
from tests.mcp.conftest import mcp_server, text_of  # noqa: F401  (the live gunicorn, at LOG_LEVEL=DEBUG)

pytestmark = pytest.mark.django_db(transaction=True)

CANARIES = {
    "api_key": "canary-apikey-5d41402abc4b2a76",
    "password": "canary-password-7d793037a0760186",
    "basic_extra": "canary-basicextra-2c9a41e87b05d3f6",
    "client_secret": "canary-clientsecret-6f8db599de986fab",
    "consumer_secret": "canary-consumersecret-9e107d9d372bb682",
    "aws_secret": "canary-awssecret-1f0e3dad99908345",
    "aws_session": "canary-awssession-8f14e45fceea167a",
    "client_header": "canary-clientheader-c9f0f895fb98ab91",
}


@pytest.fixture
def servers(oauth2_server, oauth1_server):
    oauth2_server.auto_approve = True
    oauth2_server.register_client("cnx", CANARIES["client_secret"], ["http://testserver/oauth/callback"], scope="read")
    oauth1_server.register_client("cnx1", CANARIES["consumer_secret"], "http://testserver/oauth1/callback")
    return oauth2_server, oauth1_server


def test_no_secret_leaks_anywhere(admin, upstream, servers, caplog, monkeypatch, settings):
    caplog.set_level(logging.DEBUG)
    settings.DEBUG = False
    oauth2, oauth1 = servers
    seen: list[bytes] = []
    queued: list[tuple] = []
    from connections_app import tasks

    for task in (tasks.refresh_connection, tasks.refresh_connections, tasks.deliver_webhook, tasks.refresh_due):
        monkeypatch.setattr(task, "apply_async", lambda args=(), kwargs=None, _n=task.name, **kw: queued.append((_n, args, kwargs)))

    def call(method, url, data=None):
        response = getattr(admin, method)(url, data, format="json")
        seen.append(response.content)
        return response

    # API key in the query string, and Basic.
    call("post", "/api/v1/services/", {"link_name": "k1", "name": "K", "auth_type": "api_key", "param_type": "query",
                                       "parameters": [{"key": "key", "display_name": "Key"}], "base_url": upstream.url})
    call("post", "/api/v1/connections/", {"name": "K", "link_name": "k_main", "service": "k1", "credentials": {"key": CANARIES["api_key"]}})
    call("post", "/api/v1/invoke/", {"connection": "k_main", "url": "/protected/query/key"})
    call("post", "/api/v1/invoke/", {"connection": "k_main", "url": "/anything", "params": {"x": "1"}})
    call("post", "/api/v1/services/", {"link_name": "b1", "name": "B", "auth_type": "basic", "base_url": upstream.url})
    call("post", "/api/v1/connections/", {"name": "B", "link_name": "b_main", "service": "b1",
                                          "credentials": {"username": "u", "password": CANARIES["password"]}})
    call("post", "/api/v1/invoke/", {"connection": "b_main", "url": "/anything"})
    # Basic with an extra secret header (UKG Pro's customer API key), echoed by the upstream.
    call("post", "/api/v1/services/", {"link_name": "bx1", "name": "BX", "auth_type": "basic", "base_url": upstream.url,
                                       "parameters": [{"key": "US-CUSTOMER-API-KEY", "display_name": "Customer API key"}]})
    call("post", "/api/v1/connections/", {"name": "BX", "link_name": "bx_main", "service": "bx1", "credentials": {
        "username": "u", "password": CANARIES["password"], "US-CUSTOMER-API-KEY": CANARIES["basic_extra"]}})
    call("post", "/api/v1/invoke/", {"connection": "bx_main", "url": "/anything"})
    call("get", "/api/v1/connections/bx_main/")
    call("patch", "/api/v1/connections/b_main/", {"credentials": {"password": CANARIES["password"] + "x"}})
    call("post", "/api/v1/connections/b_main/test/")

    # OAuth 2.0 with PKCE, a refresh, a failing exchange, revocation.
    call("post", "/api/v1/services/", {
        "link_name": "o2", "name": "O2", "auth_type": "oauth2", "base_url": oauth2.url, "allowed_hosts": ["127.0.0.1"],
        "scopes": [{"name": "read", "display_name": "Read"}],
        "oauth2": {"client_id": "cnx", "client_secret": CANARIES["client_secret"], "authorize_url": f"{oauth2.url}/oauth/authorize",
                   "token_url": f"{oauth2.url}/oauth/token", "revoke_url": f"{oauth2.url}/oauth/revoke"}})
    link = call("post", "/api/v1/connections/", {"name": "O", "link_name": "o_main", "service": "o2", "scopes": ["read"]}).json()["authorize_url"]
    browser = Client()
    start = browser.post(urlsplit(link).path)
    verifier = OAuthState.objects.get(connection__link_name="o_main").read_secret("secrets")["code_verifier"]
    back = urlsplit(requests.get(start["Location"], allow_redirects=False, timeout=10).headers["Location"])
    seen.append(browser.get(f"{back.path}?{back.query}").content)
    first_tokens = Connection.objects.get(link_name="o_main").credentials
    Connection.objects.filter(link_name="o_main").update(expires_at=timezone.now() - timedelta(seconds=1))
    call("post", "/api/v1/invoke/", {"connection": "o_main", "url": "/api/me"})
    second_tokens = Connection.objects.get(link_name="o_main").credentials
    link2 = call("post", "/api/v1/connections/o_main/reconnect/").json()["authorize_url"]
    start2 = browser.post(urlsplit(link2).path)
    back2 = urlsplit(requests.get(start2["Location"], allow_redirects=False, timeout=10).headers["Location"])
    oauth2.set_token_fault("garbage_json")
    seen.append(browser.get(f"{back2.path}?{back2.query}").content)
    oauth2.set_token_fault(None)
    browser.force_login(admin.user)
    seen.append(browser.get("/connections/o_main/").content)
    seen.append(browser.get("/connections/bx_main/").content)
    seen.append(browser.get("/").content)
    call("post", "/api/v1/connections/o_main/revoke/")

    # OAuth 1.0a.
    call("post", "/api/v1/services/", {
        "link_name": "o1", "name": "O1", "auth_type": "oauth1", "base_url": oauth1.url, "allowed_hosts": ["127.0.0.1"],
        "oauth1": {"consumer_key": "cnx1", "consumer_secret": CANARIES["consumer_secret"], "signature_method": "PLAINTEXT",
                   "request_token_url": f"{oauth1.url}/oauth1/request_token", "authorize_url": f"{oauth1.url}/oauth1/authorize",
                   "access_token_url": f"{oauth1.url}/oauth1/access_token"}})
    link1 = call("post", "/api/v1/connections/", {"name": "O1", "link_name": "o1_main", "service": "o1"}).json()["authorize_url"]
    start1 = browser.post(urlsplit(link1).path)
    back1 = urlsplit(requests.get(start1["Location"], allow_redirects=False, timeout=10).headers["Location"])
    seen.append(browser.get(f"{back1.path}?{back1.query}").content)
    token_secret = Connection.objects.get(link_name="o1_main").credentials["oauth_token_secret"]
    call("post", "/api/v1/invoke/", {"connection": "o1_main", "url": "/api/me"})

    # AWS SigV4 (the upstream echoes what it got: the session token travels, and is scrubbed).
    call("post", "/api/v1/services/", {"link_name": "aws1", "name": "AWS", "auth_type": "aws_sigv4", "base_url": upstream.url,
                                       "aws": {"service": "dynamodb", "region": "eu-west-1"}})
    call("post", "/api/v1/connections/", {"name": "A", "link_name": "aws_main", "service": "aws1", "credentials": {
        "access_key_id": "AKIACANARY000001", "secret_access_key": CANARIES["aws_secret"], "session_token": CANARIES["aws_session"]}})
    call("post", "/api/v1/invoke/", {"connection": "aws_main", "url": "/anything", "method": "POST", "json": {"a": 1}})

    # An OAuth client sent in a header on every call (Etsy's x-api-key): the upstream echoes it.
    oauth2.register_client("hdr", CANARIES["client_header"], [], scope="read", grant_types=["client_credentials"])
    call("post", "/api/v1/services/", {"link_name": "hdr1", "name": "HDR", "auth_type": "oauth2", "base_url": upstream.url,
                                       "allowed_hosts": ["127.0.0.1"], "scopes": [{"name": "read"}],
                                       "oauth2": {"grant_type": "client_credentials", "token_url": f"{oauth2.url}/oauth/token",
                                                  "client_id": "hdr", "client_secret": CANARIES["client_header"],
                                                  "client_headers": {"x-api-key": "{client_id}:{client_secret}"}}})
    call("post", "/api/v1/connections/", {"name": "H", "link_name": "hdr_main", "service": "hdr1", "scopes": ["read"]})
    echoed = call("post", "/api/v1/invoke/", {"connection": "hdr_main", "url": "/anything"})
    assert echoed.json()["status_code"] == 200, echoed.content
    assert upstream.requests[-1]["headers"]["X-Api-Key"] == "hdr:" + CANARIES["client_header"]  # it did travel
    call("post", "/api/v1/invoke/", {"connection": "hdr_main", "url": "/anything", "headers": {"X-Api-Key": "mine"}})
    call("get", "/api/v1/services/hdr1/")
    seen.append(browser.get("/connections/hdr_main/").content)
    seen.append(browser.get("/services/hdr1/edit/").content)
    hdr_token = Connection.objects.get(link_name="hdr_main").credentials["access_token"]

    # A service account (JWT bearer grant), a refused key, and private_key_jwt client auth.
    from tests.factories import new_key  # noqa: PLC0415
    from tests.servers.oauth2_server import JWT_BEARER  # noqa: PLC0415

    sa_pem, sa_public = new_key()
    client_pem, client_public = new_key()
    oauth2.register_client("robot@example.iam", None, [], scope="read", grant_types=[JWT_BEARER], public_key=sa_public)
    key_file = json.dumps({"type": "service_account", "private_key_id": "k1", "private_key": sa_pem, "client_email": "robot@example.iam"})
    call("post", "/api/v1/services/", {"link_name": "sa1", "name": "SA", "auth_type": "oauth2", "base_url": oauth2.url,
                                       "allowed_hosts": ["127.0.0.1"], "scopes": [{"name": "read"}],
                                       "oauth2": {"grant_type": "jwt_bearer", "token_url": f"{oauth2.url}/oauth/token"}})
    call("post", "/api/v1/connections/", {"name": "SA", "link_name": "sa_main", "service": "sa1", "scopes": ["read"],
                                          "credentials": {"service_account_json": key_file}})
    call("post", "/api/v1/connections/", {"name": "SA", "link_name": "sa_bad", "service": "sa1", "scopes": ["read"],
                                          "credentials": {"private_key": client_pem, "issuer": "nobody"}})
    call("post", "/api/v1/invoke/", {"connection": "sa_main", "url": "/api/me"})
    seen.append(browser.get("/connections/sa_main/").content)
    seen.append(browser.get("/connections/sa_bad/").content)
    oauth2.register_client("pkj", None, [], scope="read", token_endpoint_auth_method="private_key_jwt",
                           grant_types=["client_credentials"], public_key=client_public)
    call("post", "/api/v1/services/", {"link_name": "pkj1", "name": "PKJ", "auth_type": "oauth2", "base_url": oauth2.url,
                                       "allowed_hosts": ["127.0.0.1"], "scopes": [{"name": "read"}],
                                       "oauth2": {"grant_type": "client_credentials", "token_endpoint_auth_method": "private_key_jwt",
                                                  "client_id": "pkj", "client_private_key": client_pem, "token_url": f"{oauth2.url}/oauth/token"}})
    call("post", "/api/v1/connections/", {"name": "P", "link_name": "pkj_main", "service": "pkj1", "scopes": ["read"]})
    call("get", "/api/v1/services/pkj1/")
    # A SAML 2.0 bearer connection (SAP SuccessFactors), and one whose key the server refuses.
    from tests.factories import new_certificate  # noqa: PLC0415
    from tests.servers.oauth2_server import SAML2_BEARER  # noqa: PLC0415

    saml_pem, saml_cert = new_certificate()
    saml_bad_pem, _unused = new_certificate()
    oauth2.register_client("sf-key", None, [], scope="read", token_endpoint_auth_method="none", grant_types=[SAML2_BEARER],
                           certificate=saml_cert)
    call("post", "/api/v1/services/", {"link_name": "sf1", "name": "SF", "auth_type": "oauth2", "base_url": oauth2.url,
                                       "allowed_hosts": ["127.0.0.1"], "scopes": [{"name": "read"}],
                                       "oauth2": {"grant_type": "saml2_bearer", "token_url": f"{oauth2.url}/oauth/token"}})
    for link, pem in (("sf_main", saml_pem), ("sf_bad", saml_bad_pem)):
        call("post", "/api/v1/connections/", {"name": "SF", "link_name": link, "service": "sf1", "scopes": ["read"], "credentials": {
            "private_key": pem, "certificate": saml_cert if link == "sf_main" else "", "client_id": "sf-key", "user_id": "tester@example.com"}})
        seen.append(browser.get(f"/connections/{link}/").content)
        call("get", f"/api/v1/connections/{link}/")
    call("post", "/api/v1/invoke/", {"connection": "sf_main", "url": "/api/me"})
    call("post", "/api/v1/connections/sf_main/refresh/")
    assert Connection.objects.get(link_name="sf_main").status == "connected"
    sf_token = Connection.objects.get(link_name="sf_main").credentials["access_token"]
    sa_token = Connection.objects.get(link_name="sa_main").credentials["access_token"]
    assert Connection.objects.get(link_name="pkj_main").status == "connected"
    key_bodies = [pem.split("-----")[2].strip().splitlines()[3] for pem in (sa_pem, client_pem, saml_pem, saml_bad_pem)]

    # The catalog's own client secret path, the lists, the events, the schema.
    call("put", "/api/v1/services/github/client/", {"client_id": "gh", "client_secret": CANARIES["client_secret"]})
    for url in ["/api/v1/services/?kind=custom", "/api/v1/services/github/", "/api/v1/connections/", "/api/v1/events/",
                "/api/v1/connections/k_main/logs/", "/api/v1/connections/o_main/", "/api/v1/connections/o1_main/"]:
        call("get", url)

    # Celery: a sweep and a webhook.
    Connection.objects.filter(link_name="o_main").update(status="connected", expires_at=timezone.now())
    tasks.refresh_due()

    secrets = [
        *CANARIES.values(), CANARIES["password"] + "x", verifier, token_secret,
        first_tokens["access_token"], first_tokens["refresh_token"], second_tokens["access_token"], second_tokens["refresh_token"],
        sa_token, sf_token, *key_bodies, hdr_token, "hdr:" + CANARIES["client_header"],
    ]
    logs = caplog.text
    assert "refresh" in logs.lower() or logs  # logging really ran at DEBUG
    for secret in secrets:
        for blob in seen:
            assert secret.encode() not in blob, f"{secret[:12]}… in a response"
        assert secret not in logs, f"{secret[:12]}… in a log line"
        assert secret not in repr(queued), f"{secret[:12]}… in a Celery message"
    # Celery messages carry ids only (a batch is a list of ids).
    assert queued and all(isinstance(i, int) for _name, args, _kw in queued for arg in args for i in (arg if isinstance(arg, list) else [arg]))

    # Nothing in plaintext in any stored row, nor in the SQLite file.
    for model in apps.get_app_config("connections_app").get_models():
        for row in model.objects.all().values():
            text = repr(row)
            for secret in secrets:
                assert secret not in text, f"{secret[:12]}… stored in plaintext in {model.__name__}"
    if db.vendor == "sqlite":
        db.close()
        raw = open(db.settings_dict["NAME"], "rb").read()
        for secret in secrets:
            assert secret.encode() not in raw


# -- MCP -------------------------------------------------------------------------------------


def test_no_secret_leaks_through_mcp(admin, httpbin_server, mcp_server):  # noqa: F811
    """Through every MCP tool, results and errors alike, and in the server's own log at
    DEBUG, no credential of a connection or a service is ever seen."""
    url = httpbin_server.url
    admin.post("/api/v1/services/", {"link_name": "k1", "name": "K", "auth_type": "api_key", "param_type": "header",
                                     "parameters": [{"key": "X-Key", "display_name": "Key"}], "base_url": url}, format="json")
    admin.post("/api/v1/connections/", {"name": "K", "link_name": "k_main", "service": "k1", "credentials": {"X-Key": CANARIES["api_key"]}}, format="json")
    admin.post("/api/v1/services/", {"link_name": "b1", "name": "B", "auth_type": "basic", "base_url": url}, format="json")
    admin.post("/api/v1/connections/", {"name": "B", "link_name": "b_main", "service": "b1",
                                        "credentials": {"username": "u", "password": CANARIES["password"]}}, format="json")
    admin.post("/api/v1/services/", {
        "link_name": "o1", "name": "O", "auth_type": "oauth2", "base_url": url,
        "oauth2": {"client_id": "cid", "client_secret": CANARIES["client_secret"], "authorize_url": "https://auth.example/a",
                   "token_url": "https://auth.example/t"},
    }, format="json")
    admin.post("/api/v1/connections/", {"name": "O", "link_name": "o_main", "service": "o1"}, format="json")
    _token, key = api_token_create(membership=Membership.objects.get(user__username="admin-acme"), name="canary agent")

    results = [
        mcp_call(mcp_server, key, "list_connections"),
        mcp_call(mcp_server, key, "list_services", search="1"),
        *[mcp_call(mcp_server, key, "get_connection", connection=c) for c in ("k_main", "b_main", "o_main")],
        mcp_call(mcp_server, key, "invoke", connection="k_main", url="/headers"),  # the upstream echoes the key
        mcp_call(mcp_server, key, "invoke", connection="b_main", url="/headers"),  # ... and the Basic header
        mcp_call(mcp_server, key, "invoke", connection="b_main", url="/basic-auth/u/wrong"),  # a 401
        mcp_call(mcp_server, key, "invoke", connection="k_main", url="https://elsewhere.example/x"),  # host refused
        mcp_call(mcp_server, key, "invoke", connection="k_main", url="/get", headers={"X-Key": "mine"}),  # collision
        mcp_call(mcp_server, key, "invoke", connection="o_main", url="/get"),  # pending: a connect link
        mcp_call(mcp_server, key, "invoke", connection="k_main", url="/get", timeout=10_000),  # bad input
    ]
    assert sum(r.is_error for r in results) == 4
    seen = "".join(text_of(r) + repr(r.structured_content) for r in results)
    assert "[redacted]" in seen  # the echoes were really there, and scrubbed
    basic = base64.b64encode(f"u:{CANARIES['password']}".encode()).decode()
    log = mcp_server.log()
    assert re.search(r"DEBUG.*mcp\.server", log)  # the server, the SDK included, logged at DEBUG
    for secret in (*CANARIES.values(), basic, key):
        assert secret not in seen, f"{secret[:12]}… in an MCP result or error"
        assert secret not in log, f"{secret[:12]}… in the server's log"
