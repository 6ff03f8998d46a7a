"""The outbound guard: allow-list dodges, address spellings, rebinding, redirects,
collisions, proxies and .netrc."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from connections_app import http as outbound
from connections_app.errors import HostNotAllowed, ValidationFailed
from tests.factories import SECRET, make_connection
from tests.factories import invoke as invoke_connection


# -- the allow-list ------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "https://evil.test\\@api.example.com/",
    "https://user@evil.test/",
    "https://api.example.com@evil.test/",
    "https://api.example.com:443@evil.test/",
    "https://api.example.com.evil.test/",
    "https://evil.test/#@api.example.com",
    "https://evil.test?@api.example.com",
    "//evil.test/x",
    "ftp://api.example.com/",
    "file:///etc/passwd",
    "gopher://api.example.com/",
    "https://api.example.com:8443/",
    "https://api.example.com\t.evil.test/",
])
def test_dodges_are_refused(url, settings):
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises((HostNotAllowed, ValidationFailed)):
        outbound.check_url(url, ["api.example.com"])


def test_the_checked_host_is_the_host_connected_to(monkeypatch, settings):
    """``#@`` and ``%2e%2e`` tricks: whatever passes the check is exactly what urllib3 dials."""
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = False
    dialled = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        dialled.append(host)
        raise socket.gaierror("no network in this test")

    monkeypatch.setattr(outbound.socket, "getaddrinfo", fake_getaddrinfo)
    for url in ["https://api.example.com/#@evil.test", "https://api.example.com/%2e%2e/%2e%2e/admin", "https://API.Example.com./x"]:
        host = outbound.check_url(url, ["api.example.com"])
        with pytest.raises(Exception):
            outbound.send(outbound.OutboundRequest("GET", url), allowed_hosts=["api.example.com"], auth=None, timeout=2)
        assert dialled[-1].rstrip(".").lower() == host == "api.example.com"


# -- addresses -----------------------------------------------------------------------------
@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "ff02::1", "::",
])
def test_private_and_reserved_addresses_are_blocked(address):
    assert outbound.is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "64:ff9b::5db8:d70e"])
def test_public_addresses_pass(address):
    assert not outbound.is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["127.1", "0x7f000001", "2130706433", "0", "0177.0.0.1", "127.000.000.001", "localhost"])
def test_legacy_spellings_of_loopback_are_refused_on_the_resolved_address(host, settings, upstream):
    """Each spelling is on the allow-list here; the connect-time check still refuses it."""
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = False
    url = f"http://{host}/anything"
    with pytest.raises(HostNotAllowed):
        outbound.send(outbound.OutboundRequest("GET", url), allowed_hosts=[f"http://{host}"], auth=None, timeout=2)


def test_dns_rebinding_has_no_window(monkeypatch, settings):
    """The address is checked inside the connection, on the same lookup that is dialled."""
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = False
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]])

    def rebinding(host, port, *args, **kwargs):
        return next(answers)  # the one and only lookup says loopback

    monkeypatch.setattr(outbound.socket, "getaddrinfo", rebinding)
    with pytest.raises(HostNotAllowed):
        outbound.send(outbound.OutboundRequest("GET", "http://rebind.example/x"), allowed_hosts=["http://rebind.example"], auth=None, timeout=2)


# -- through the API ---------------------------------------------------------------------
pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded(loopback_service):
    """Return ``guarded(admin, ...)``: a service "guarded" reaching both loopback servers under
    both loopback names, and its connection "g1"."""

    def make(admin, *, auth_type="api_key", param_type="header", credentials=None):
        loopback_service(admin, "guarded", auth_type=auth_type, param_type=param_type, hosts=("127.0.0.1", "localhost"))
        credentials = credentials or ({"X-Api-Key": SECRET} if auth_type == "api_key" else {"username": "u", "password": SECRET})
        make_connection(admin, "guarded", link_name="g1", credentials=credentials)

    return make


def invoke(admin, **body):
    return invoke_connection(admin, connection="g1", **body)


@pytest.mark.parametrize("auth_type, param_type", [("api_key", "header"), ("api_key", "query"), ("api_key", "form"), ("basic", "header")])
def test_no_redirect_carries_a_credential_to_another_host(admin, guarded, httpbin_server, upstream, auth_type, param_type):
    guarded(admin, auth_type=auth_type, param_type=param_type)
    target = f"http://localhost:{upstream.port}/anything"
    body = {"method": "POST", "form": {"a": "1"}} if param_type == "form" else {}
    invoke(admin, url=f"{httpbin_server.url}/redirect-to", params={"url": target, "status_code": "302"}, **body)
    arrived = [r for r in upstream.requests if r["path"] == "/anything"]
    assert arrived, "the redirect was followed"
    for request in arrived:
        flat = str(request)
        assert SECRET not in flat and "Authorization" not in request["headers"]


def test_307_never_resends_a_body_to_another_host(admin, guarded, httpbin_server, upstream):
    guarded(admin)
    target = f"http://localhost:{upstream.port}/anything"
    envelope = invoke(admin, url=f"{httpbin_server.url}/redirect-to", method="POST", json={"private": "data"},
                      params={"url": target, "status_code": "307"}).json()
    assert envelope["status_code"] == 307
    assert upstream.requests == []


@pytest.mark.parametrize("param_type, field, body", [
    ("query", "params", {"params": {"x-api-key": "mine"}}),
    ("form", "form", {"method": "POST", "form": {"X-Api-Key": "mine"}}),
    ("header", "headers", {"headers": {"x-api-key": "mine"}}),
])
def test_colliding_caller_values_are_refused(admin, guarded, upstream, param_type, field, body):
    guarded(admin, param_type=param_type)
    response = invoke(admin, url=f"{upstream.url}/anything", **body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert upstream.requests == []


def test_basic_auth_header_cannot_be_overridden(admin, guarded, upstream):
    guarded(admin, auth_type="basic")
    response = invoke(admin, url=f"{upstream.url}/anything", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert response.status_code == 400


def test_proxy_environment_and_netrc_are_ignored(admin, guarded, upstream, monkeypatch, tmp_path):
    guarded(admin)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    envelope = invoke(admin, url=f"{upstream.url}/anything").json()
    assert envelope["status_code"] == 200  # went direct, not through the dead proxy
    assert "Authorization" not in upstream.requests[-1]["headers"]  # no .netrc credentials
