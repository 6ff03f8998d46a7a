"""The MCP server, end to end: the SDK's ``ClientSession`` over Streamable HTTP against the
product under gunicorn, with connections to a local httpbin."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from connections_app import services
from connections_app.models import ApiToken, Event, InvocationLog, Role
from tests.factories import api_key_service, inside_one_window

from .conftest import MAX_BODY_CHARS, call, data_of, mcp_session, run_async, text_of

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_KEY_VALUE = "mcp-apikey-secret-4f1c2a9b"
PASSWORD = "mcp-basic-password-77"


@pytest.fixture
def setup(org, admin, httpbin_server):
    """Three connections through httpbin: API key, Basic, and an OAuth one still pending."""
    url = httpbin_server.url
    admin.post("/api/v1/services/", api_key_service("bin_key", base_url=url, keys=("X-Api-Key",),
                                                       docs_url="https://httpbin.org", sample_url=f"{url}/get"), format="json")
    admin.post("/api/v1/connections/", {"name": "Bin key", "link_name": "bin_main", "service": "bin_key",
                                        "credentials": {"X-Api-Key": SECRET_KEY_VALUE}}, format="json")
    admin.post("/api/v1/services/", {"link_name": "bin_basic", "name": "Bin basic", "auth_type": "basic", "base_url": url}, format="json")
    admin.post("/api/v1/connections/", {"name": "Bin basic", "link_name": "bin_other", "service": "bin_basic",
                                        "credentials": {"username": "alice", "password": PASSWORD}}, format="json")
    response = admin.post("/api/v1/services/", {
        "link_name": "bin_oauth", "name": "Bin OAuth", "auth_type": "oauth2", "base_url": url,
        "oauth2": {"client_id": "cid", "client_secret": "csecret-mcp-0000", "authorize_url": "https://auth.example/authorize",
                   "token_url": "https://auth.example/token"},
    }, format="json")
    assert response.status_code == 201, response.content
    response = admin.post("/api/v1/connections/", {"name": "Bin OAuth", "link_name": "bin_pending", "service": "bin_oauth"}, format="json")
    assert response.json()["status"] == "pending"
    return org


def token(organisation, role=Role.ADMIN, **limits) -> str:
    membership = services.membership_ensure(username=f"agent-{role}", org_slug=organisation.slug, role=role, create=True)
    _token, key = services.api_token_create(membership=membership, name=f"agent {role}", **limits)
    return key


def test_initialize_and_list_tools(mcp_server, setup):
    key = token(setup)

    async def run():
        async with mcp_session(mcp_server, key) as session:
            return await session.list_tools()

    tools = {t.name: t for t in run_async(run).tools}
    assert set(tools) == {"list_connections", "get_connection", "invoke", "list_services"}
    for tool in tools.values():
        assert "Example" in tool.description and tool.input_schema["type"] == "object"
    assert set(tools["invoke"].input_schema["required"]) == {"connection", "url"}
    assert tools["list_connections"].annotations.read_only_hint is True


def test_invoke_injects_the_credential_and_returns_the_envelope(mcp_server, setup):
    key = token(setup)
    envelope = data_of(call(mcp_server, key, "invoke", connection="bin_other", url="/basic-auth/alice/" + PASSWORD))
    assert envelope["status_code"] == 200 and envelope["body"] == {"authenticated": True, "user": "alice"}
    assert envelope["body_encoding"] == "json" and envelope["elapsed_ms"] >= 0
    echoed = data_of(call(mcp_server, key, "invoke", connection="bin_main", url="/headers", headers={"Accept": "application/json"}))
    assert echoed["body"]["headers"]["X-Api-Key"] == "[redacted]"  # sent, and its echo scrubbed
    # Logged like a REST invoke, naming the token.
    log = InvocationLog.objects.filter(connection__link_name="bin_main").get()
    assert log.actor == "agent-admin" and log.token == ApiToken.objects.get(name="agent admin").label


def test_list_and_get_connection(mcp_server, setup, httpbin_server):
    key = token(setup)
    listed = data_of(call(mcp_server, key, "list_connections"))["connections"]
    assert [c["link_name"] for c in listed] == ["bin_main", "bin_other", "bin_pending"]
    assert listed[0]["service"]["link_name"] == "bin_key" and listed[0]["docs_url"] == "https://httpbin.org"
    assert [c["link_name"] for c in data_of(call(mcp_server, key, "list_connections", status="pending"))["connections"]] == ["bin_pending"]
    detail = data_of(call(mcp_server, key, "get_connection", connection="bin_main"))
    # The default taken from an http base_url keeps its scheme and port (plain http is named).
    assert detail["allowed_hosts"] == [f"http://127.0.0.1:{httpbin_server.port}"] and detail["sample_request"]["url"].endswith("/get")
    services_found = data_of(call(mcp_server, key, "list_services", search="bin"))["services"]
    assert {s["link_name"] for s in services_found} == {"bin_key", "bin_basic", "bin_oauth"}


def test_a_scoped_token_cannot_see_or_call_other_connections(mcp_server, setup):
    key = token(setup, connections=["bin_main"], actions=["read", "invoke"])
    assert [c["link_name"] for c in data_of(call(mcp_server, key, "list_connections"))["connections"]] == ["bin_main"]
    for tool, args in (("get_connection", {}), ("invoke", {"url": "/get"})):
        hidden = call(mcp_server, key, tool, connection="bin_other", **args)
        missing = call(mcp_server, key, tool, connection="no_such_thing", **args)
        assert hidden.is_error and "not_found: " in text_of(hidden)
        assert text_of(hidden).replace("bin_other", "X") == text_of(missing).replace("no_such_thing", "X")
    assert data_of(call(mcp_server, key, "invoke", connection="bin_main", url="/get"))["status_code"] == 200


def test_a_read_only_token_cannot_invoke(mcp_server, setup):
    key = token(setup, actions=["read"])
    assert data_of(call(mcp_server, key, "list_connections"))["connections"]
    refused = call(mcp_server, key, "invoke", connection="bin_main", url="/get")
    assert refused.is_error and "permission_denied: " in text_of(refused)
    assert not InvocationLog.objects.exists()


def test_an_expired_token_is_refused(mcp_server, setup):
    key = token(setup, expires_at=timezone.now() + timedelta(minutes=1))
    ApiToken.objects.filter(prefix=key[:10]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = requests.post(f"{mcp_server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                             headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(Exception):  # the SDK's client cannot even initialize
        call(mcp_server, key, "list_connections")
    assert requests.post(f"{mcp_server.url}/mcp", json={}, timeout=10).status_code == 401  # and no token at all


def test_a_viewer_reads_but_cannot_invoke(mcp_server, setup):
    key = token(setup, role=Role.VIEWER)
    assert len(data_of(call(mcp_server, key, "list_connections"))["connections"]) == 3
    refused = call(mcp_server, key, "invoke", connection="bin_main", url="/get")
    assert refused.is_error and "permission_denied: " in text_of(refused)


def test_a_pending_connection_answers_with_a_connect_link(mcp_server, setup):
    result = call(mcp_server, token(setup), "invoke", connection="bin_pending", url="/get")
    assert result.is_error
    message = text_of(result)
    assert "connection_not_ready: " in message and "/oauth/authorize/" in message and "Ask the user" in message
    assert Event.objects.filter(action="connection.reconnect_started", target="bin_pending").exists()


def test_invoke_is_throttled_like_rest(mcp_server, setup):
    key = token(setup)
    inside_one_window(60, margin=20.0)
    results = [call(mcp_server, key, "invoke", connection="bin_main", url="/get") for _ in range(7)]
    assert not any(r.is_error for r in results[:6])
    assert results[6].is_error and "throttled: " in text_of(results[6])


def test_a_large_body_is_cut_with_a_note(mcp_server, setup):
    result = data_of(call(mcp_server, token(setup), "invoke", connection="bin_main", url="/html"))
    assert result["truncated"] is True and len(result["body"]) == MAX_BODY_CHARS
    assert "cut to its first" in result["note"]
    small = data_of(call(mcp_server, token(setup), "invoke", connection="bin_main", url="/json"))
    assert "truncated" not in small
