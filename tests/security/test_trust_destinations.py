"""Issue 12 ("Trust, round 2"), points 1, 5, 6 and 12 (addresses): a credential goes only
where and how its service says, once per parameter, and its echoes are redacted."""

from __future__ import annotations

import base64
import ipaddress
import json
from urllib.parse import quote

import pytest
from flask import Flask, Response, request

from connections_app import http as outbound
from connections_app.models import Event
from services_catalog.schema import SchemaError, ServiceDefinition
from tests.servers.runner import start_wsgi

pytestmark = pytest.mark.django_db
SECRET = "upstream-secret-0001"


def service(admin, *, link_name="trusted", param_type="header", key="X-Api-Key", **fields):
    data = {"link_name": link_name, "name": "T", "auth_type": "api_key", "param_type": param_type,
            "parameters": [{"key": key, "display_name": key}], **fields}
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 201, response.content
    response = admin.post("/api/v1/connections/", {"name": "T", "link_name": "t1", "service": link_name,
                                                   "credentials": {key: SECRET}}, format="json")
    assert response.status_code == 201, response.content


def invoke(client, **body):
    return client.post("/api/v1/invoke/", {"connection": "t1", **body}, format="json")


# -- point 1: no downgrade, no other port --------------------------------------------------
def test_an_https_service_is_never_called_over_plain_http(admin, org, upstream):
    """The service names https on the upstream's port; plain http to the same host and port
    (a real loopback server that counts requests) is refused and nothing is sent."""
    service(admin, base_url=f"https://127.0.0.1:{upstream.port}")
    response = invoke(admin, url=f"http://127.0.0.1:{upstream.port}/anything")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "host_not_allowed" and "plain http" in error["message"]
    assert upstream.requests == []
    refused = Event.objects.get(organisation=org, action="invoke.refused")
    assert refused.target == "t1" and "plain http" in refused.data["reason"]


def test_a_bare_allowed_host_means_https_on_443_only(admin, upstream):
    """A bare host entry no longer lets a call go to any port over http (it used to whenever
    private networks were allowed)."""
    service(admin, allowed_hosts=["127.0.0.1"])
    response = invoke(admin, url=f"http://127.0.0.1:{upstream.port}/anything")
    assert response.status_code == 403 and response.json()["error"]["code"] == "host_not_allowed"
    assert upstream.requests == []


def test_another_port_than_the_service_names_is_refused(admin, upstream, httpbin_server):
    service(admin, allowed_hosts=[f"http://127.0.0.1:{httpbin_server.port}"])
    response = invoke(admin, url=f"http://127.0.0.1:{upstream.port}/anything")
    assert response.status_code == 403 and str(upstream.port) in response.json()["error"]["message"]
    assert upstream.requests == []


def test_an_explicit_http_entry_reaches_a_private_service(admin, upstream):
    service(admin, allowed_hosts=[f"http://127.0.0.1:{upstream.port}"])
    envelope = invoke(admin, url=f"http://127.0.0.1:{upstream.port}/protected/header/X-Api-Key").json()
    assert envelope["status_code"] == 200 and len(upstream.requests) == 1


def test_a_redirect_cannot_downgrade(admin, upstream, httpbin_server):
    """A redirect to the same host over another scheme or port is handed back, not followed."""
    service(admin, allowed_hosts=[f"http://127.0.0.1:{httpbin_server.port}", "127.0.0.1"])
    envelope = invoke(admin, url=f"http://127.0.0.1:{httpbin_server.port}/redirect-to",
                      params={"url": f"http://127.0.0.1:{upstream.port}/anything"}).json()
    assert envelope["status_code"] == 302 and upstream.requests == []


@pytest.mark.parametrize("field, value", [
    ("base_url", "http://api.example.com"),
    ("allowed_hosts", ["http://api.example.com"]),
    ("oauth2", {"token_url": "http://auth.example.com/token", "authorize_url": "https://auth.example.com/a"}),
])
def test_the_catalog_is_https_only(field, value):
    data = {"link_name": "cat", "name": "Cat", "auth_type": "oauth2" if field == "oauth2" else "api_key",
            "parameters": [{"key": "k", "display_name": "K"}], "base_url": "https://api.example.com"}
    data[field] = value
    if field == "oauth2":
        data.pop("parameters")
    with pytest.raises(SchemaError, match="https only"):
        ServiceDefinition.from_dict(data, source="providers/cat.yaml", kind="preconfigured")
    custom = ServiceDefinition.from_dict(data, source="custom service", kind="custom")  # a custom one may
    assert custom.link_name == "cat"


def test_allowed_host_entries_are_stored_in_one_spelling():
    data = {"link_name": "cat", "name": "Cat", "auth_type": "api_key", "parameters": [{"key": "k", "display_name": "K"}],
            "allowed_hosts": ["API.example.com", "https://api.example.com:443", "http://intranet.local", "https://x.example:8443"]}
    definition = ServiceDefinition.from_dict(data, source="custom service", kind="custom")
    assert definition.allowed_hosts == ("api.example.com", "http://intranet.local:80", "https://x.example:8443")
    data["allowed_hosts"], data["base_url"] = None, "http://10.0.0.5:8080/api"
    assert ServiceDefinition.from_dict(data, source="custom service", kind="custom").allowed_hosts == ("http://10.0.0.5:8080",)


# -- point 5: one value per injected parameter ---------------------------------------------
@pytest.mark.parametrize("param_type, field, body", [
    ("query", "url", {"url": "/anything?X-API-KEY=mine"}),
    ("query", "url", {"url": "/anything?a=1&x-api-key=mine"}),
    ("form", "body", {"method": "POST", "url": "/anything", "body": "x-api-key=mine&a=1",
                      "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    ("header", "headers", {"url": "/anything", "headers": {"X-API-KEY": "mine"}}),
])
def test_no_second_value_for_an_injected_parameter(admin, upstream, param_type, field, body):
    service(admin, param_type=param_type, base_url=upstream.url)
    response = invoke(admin, **body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"] and "X-Api-Key".lower() in str(error).lower()
    assert upstream.requests == []


@pytest.mark.parametrize("header", ["X-Forwarded-For", "x-forwarded-host", "Forwarded", "X-Real-IP", "Via", "Host"])
def test_forwarding_headers_from_the_caller_are_refused(admin, upstream, header):
    service(admin, base_url=upstream.url)
    response = invoke(admin, url="/anything", headers={header: "10.0.0.1"})
    assert response.status_code == 400 and "headers" in response.json()["error"]["fields"]
    assert upstream.requests == []


# -- point 6: echoes redacted in every spelling --------------------------------------------
def _echo_app() -> Flask:
    app = Flask("echo")

    @app.route("/echo/<form>")
    def echo(form):
        key = request.headers.get("X-Api-Key", "")
        spelled = {
            "json_slash": '{"k": "' + "".join({"-": "\\u002D", "0": "\\u0030", "/": "\\/"}.get(c, c) for c in key) + '"}',
            "json_escaped_all": '{"k": "' + "".join(f"\\u{ord(c):04x}" for c in key) + '"}',
            "percent_upper": "k=" + "".join(f"%{b:02X}" for b in key.encode()),
            "percent_lower": "k=" + "".join(f"%{b:02x}" for b in key.encode()),
            "percent_mixed": "k=" + quote(key, safe="").replace("-", "%2d"),
            "base64": base64.b64encode(f"user:{key}".encode()).decode() + " " + base64.b64encode(key.encode()).decode(),
        }[form]
        media = "application/json" if form.startswith("json") else "text/plain"
        return Response(spelled, content_type=media, headers={"X-Echo": spelled[:200]})

    return app


@pytest.fixture(scope="module")
def echo_server():
    served = start_wsgi(_echo_app())
    yield served
    served.stop()


@pytest.mark.parametrize("form", ["json_slash", "json_escaped_all", "percent_upper", "percent_lower", "percent_mixed", "base64"])
def test_echoes_are_redacted_in_every_spelling(admin, echo_server, form):
    service(admin, base_url=echo_server.url)
    envelope = invoke(admin, url=f"/echo/{form}").json()
    text = json.dumps(envelope)
    assert "[redacted]" in text
    decoded = json.dumps(envelope["body"], ensure_ascii=False) if envelope["body_encoding"] == "json" else envelope["body"]
    for spelling in (SECRET, quote(SECRET), base64.b64encode(SECRET.encode()).decode(), "upstream", "dXBzdHJlYW0t"):
        assert spelling not in decoded and spelling not in text, (form, spelling)


def test_the_basic_header_form_is_redacted(admin, echo_server):
    """The base64 of ``username:password`` (the Basic header) echoed back."""
    data = {"link_name": "basic_svc", "name": "B", "auth_type": "basic", "base_url": echo_server.url}
    assert admin.post("/api/v1/services/", data, format="json").status_code == 201
    assert admin.post("/api/v1/connections/", {"name": "B", "link_name": "t1", "service": "basic_svc",
                                               "credentials": {"username": "user", "password": SECRET}}, format="json").status_code == 201
    envelope = invoke(admin, url="/echo/base64").json()
    assert base64.b64encode(f"user:{SECRET}".encode()).decode() not in json.dumps(envelope)


# -- point 12: every non-global range ------------------------------------------------------
@pytest.mark.parametrize("address", [
    "fec0::1", "fec0:1234::5", "feff::1", "3fff::1", "5f00::1", "2001:db8::1", "100::1",
    "192.0.0.8", "192.88.99.1", "198.18.0.1", "240.0.0.1", "0.1.2.3", "::ffff:192.0.0.8", "2002:c000:0008::",
])
def test_every_non_global_range_is_blocked(address):
    assert outbound.is_blocked_address(ipaddress.ip_address(address))


def test_a_site_local_address_is_refused_at_connect_time(monkeypatch, settings):
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = False
    import socket

    monkeypatch.setattr(outbound.socket, "getaddrinfo",
                        lambda *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fec0::1", 443, 0, 0))])
    from connections_app.errors import HostNotAllowed

    with pytest.raises(HostNotAllowed):
        outbound.send(outbound.OutboundRequest("GET", "https://site-local.example/x"),
                      allowed_hosts=["site-local.example"], auth=None, timeout=2)
