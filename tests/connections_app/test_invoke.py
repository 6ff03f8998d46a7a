"""Invoke end to end against real HTTP servers on loopback (httpbin and a small upstream)."""

import time

import pytest

from connections_app import http as outbound
from connections_app.models import InvocationLog
from tests.factories import SECRET, invoke, make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def header_conn(admin, upstream, loopback_service):
    loopback_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})


@pytest.mark.parametrize("param_type, path, extra", [
    ("header", "/protected/header/X-Api-Key", {}),
    ("query", "/protected/query/X-Api-Key", {"params": {"page": "2"}}),
    ("form", "/protected/form/X-Api-Key", {"method": "POST", "form": {"note": "hi"}}),
])
def test_injection_per_param_type(admin, upstream, param_type, path, extra, loopback_service):
    loopback_service(admin, param_type=param_type, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    response = invoke(admin, url=path, **extra)
    assert response.status_code == 200, response.content
    envelope = response.json()
    assert envelope["status_code"] == 200 and envelope["body"] == {"ok": True} and envelope["body_encoding"] == "json"
    assert isinstance(envelope["elapsed_ms"], int)
    seen = upstream.requests[-1]
    if param_type == "query":
        assert seen["args"]["page"] == "2"
    if param_type == "form":
        assert seen["form"]["note"] == "hi"
    assert SECRET not in response.content.decode()


def test_wrong_key_is_passed_through_as_upstream_401(admin, upstream, loopback_service):
    loopback_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": "wrong-key-000000"})
    envelope = invoke(admin, url="/protected/header/X-Api-Key").json()
    assert envelope["status_code"] == 401


def test_basic_auth_against_httpbin(admin, httpbin_server, loopback_service):
    loopback_service(admin, auth_type="basic", base_url=httpbin_server.url)
    make_connection(admin, "acme_api", credentials={"username": "alice", "password": "pa55-word-long"})
    ok = invoke(admin, url="/basic-auth/alice/pa55-word-long").json()
    assert ok["status_code"] == 200 and ok["body"]["authenticated"] is True
    wrong = invoke(admin, url="/basic-auth/alice/other").json()
    assert wrong["status_code"] == 401


def test_echoed_secrets_are_scrubbed_from_the_envelope(admin, httpbin_server, upstream, loopback_service):
    loopback_service(admin, hosts=("127.0.0.1",), base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    envelope = invoke(admin, url="/echo-secret").json()
    assert envelope["body"] == {"you_sent": "[redacted]"}
    assert envelope["headers"]["x-echo"] == "[redacted]"
    echoed = invoke(admin, url=f"{httpbin_server.url}/headers").json()
    assert echoed["body"]["headers"]["X-Api-Key"] == "[redacted]"  # it arrived, and was not shown


def test_full_url_path_and_methods(admin, httpbin_server, loopback_service):
    loopback_service(admin, base_url=f"{httpbin_server.url}/anything/base")
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    path = invoke(admin, url="/v1/me", params={"q": "x"}).json()
    assert path["body"]["url"].endswith("/anything/base/v1/me?q=x")
    full = invoke(admin, url=f"{httpbin_server.url}/anything/other", method="PUT", json={"a": 1}).json()
    assert full["body"]["method"] == "PUT" and full["body"]["json"] == {"a": 1}
    raw = invoke(admin, url="/raw", method="POST", body="plain text", headers={"Content-Type": "text/plain"}).json()
    assert raw["body"]["data"] == "plain text"


def test_body_encodings(admin, httpbin_server, upstream, loopback_service):
    loopback_service(admin, hosts=("127.0.0.1",))
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    assert invoke(admin, url=f"{httpbin_server.url}/html").json()["body_encoding"] == "text"
    binary = invoke(admin, url=f"{upstream.url}/binary").json()
    assert binary["body_encoding"] == "base64"
    import base64

    assert base64.b64decode(binary["body"]) == bytes(range(256))


def test_upstream_errors_pass_through_in_a_200_envelope(admin, httpbin_server, header_conn):
    for status in (404, 418, 500):
        response = invoke(admin, url=f"{httpbin_server.url}/status/{status}")
        assert response.status_code == 200 and response.json()["status_code"] == status


def test_foreign_host_is_refused_before_any_byte(admin, upstream, header_conn):
    response = invoke(admin, url=f"http://localhost:{upstream.port}/anything")
    assert response.status_code == 403 and response.json()["error"]["code"] == "host_not_allowed"
    assert upstream.requests == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1@localhost:{port}/anything",
    "http://evil.test\\@127.0.0.1:{port}/anything",
    "//localhost:{port}/anything",
    "ftp://127.0.0.1:{port}/anything",
    "http://127.0.0.1.evil.test:{port}/anything",
])
def test_allow_list_dodges_are_refused(admin, upstream, header_conn, url):
    response = invoke(admin, url=url.format(port=upstream.port))
    assert response.status_code in (400, 403)
    assert response.json()["error"]["code"] in ("host_not_allowed", "validation_error")
    assert upstream.requests == []


def test_private_addresses_refused_unless_allowed(admin, upstream, header_conn, settings):
    settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS = False
    response = invoke(admin, url=f"{upstream.url}/anything")
    assert response.status_code == 403 and response.json()["error"]["code"] == "host_not_allowed"
    assert upstream.requests == []


def test_cross_host_redirect_carries_no_credentials(admin, httpbin_server, upstream, loopback_service):
    loopback_service(admin, hosts=("127.0.0.1", "localhost"))
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    target = f"http://localhost:{upstream.port}/anything"
    envelope = invoke(admin, url=f"{httpbin_server.url}/redirect-to", params={"url": target}).json()
    assert envelope["status_code"] == 200
    arrived = upstream.requests[-1]
    assert arrived["host"].startswith("localhost") and "X-Api-Key" not in arrived["headers"]


def test_same_host_redirect_keeps_credentials(admin, upstream, httpbin_server, loopback_service):
    loopback_service(admin, hosts=("127.0.0.1",))
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    envelope = invoke(admin, url=f"{httpbin_server.url}/redirect-to", params={"url": f"{upstream.url}/protected/header/X-Api-Key"}).json()
    # Another port is another origin: the credential is withheld, so the upstream says 401.
    assert envelope["status_code"] == 401


def test_redirect_off_the_allow_list_is_handed_back(admin, httpbin_server, upstream, header_conn):
    envelope = invoke(admin, url=f"{httpbin_server.url}/redirect-to", params={"url": f"http://localhost:{upstream.port}/anything"}).json()
    assert envelope["status_code"] == 302
    assert upstream.requests == []


def test_timeout(admin, httpbin_server, header_conn):
    started = time.monotonic()
    response = invoke(admin, url=f"{httpbin_server.url}/delay/5", timeout=1)
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 4


def test_slow_drip_is_cut_by_the_total_deadline(admin, httpbin_server, header_conn):
    started = time.monotonic()
    response = invoke(admin, url=f"{httpbin_server.url}/drip", params={"duration": "6", "numbytes": "6", "delay": "0"}, timeout=2)
    assert response.status_code == 504
    assert time.monotonic() - started < 5


def test_size_cap(admin, httpbin_server, upstream, header_conn, settings):
    settings.CONNECTIONS_INVOKE_MAX_BODY_BYTES = 1000
    response = invoke(admin, url=f"{httpbin_server.url}/bytes/5000")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
    settings.CONNECTIONS_INVOKE_MAX_BODY_BYTES = 1024 * 1024
    bomb = invoke(admin, url=f"{upstream.url}/gzip-bomb", params={"mib": "20"})
    assert bomb.status_code == 502  # measured on decoded bytes


@pytest.mark.parametrize("status", [429, 503])
def test_retries_with_backoff(admin, upstream, header_conn, status):
    envelope = invoke(admin, url=f"{upstream.url}/flaky/r{status}", params={"fail": "2", "status": str(status)}, retries=3).json()
    assert envelope["status_code"] == 200 and envelope["body"] == {"attempt": 3}
    assert upstream.counts[f"/flaky/r{status}"] == 3


def test_retry_after_is_honoured(admin, upstream, header_conn):
    started = time.monotonic()
    envelope = invoke(admin, url=f"{upstream.url}/flaky/ra", params={"fail": "1", "status": "429", "retry_after": "1"}, retries=1).json()
    assert envelope["status_code"] == 200
    assert time.monotonic() - started >= 1


def test_without_retries_the_failure_is_returned(admin, upstream, header_conn):
    envelope = invoke(admin, url=f"{upstream.url}/flaky/none", params={"fail": "1"}).json()
    assert envelope["status_code"] == 503 and upstream.counts["/flaky/none"] == 1


def test_keep_alive_reuses_the_tcp_connection(admin, upstream, header_conn):
    invoke(admin, url=f"{upstream.url}/anything")
    pool = outbound.shared_adapter().poolmanager.connection_from_url(upstream.url)
    opened = pool.num_connections
    for _ in range(3):
        invoke(admin, url=f"{upstream.url}/anything")
    assert pool.num_connections == opened


@pytest.mark.parametrize("body, field", [
    ({"url": ""}, "url"),
    ({"url": "/x", "method": "TRACE"}, "method"),
    ({"url": "/x", "timeout": 0}, "timeout"),
    ({"url": "/x", "retries": 6}, "retries"),
    ({"url": "/x", "json": {"a": 1}, "form": {"b": "2"}}, "body"),
    ({"url": "/x", "headers": {"X-Api-Key": "mine"}}, "headers"),
    ({"url": "/x", "headers": {"Host": "evil"}}, "headers"),
    ({"url": "relative/path"}, "url"),
])
def test_bad_input(admin, upstream, body, field, loopback_service):
    loopback_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    response = invoke(admin, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert upstream.requests == []


def test_not_ready_and_unknown_connections(admin, upstream, header_conn):
    admin.post("/api/v1/connections/acme_main/revoke/")
    response = invoke(admin, url="/anything")
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"
    assert invoke(admin, connection="nope", url="/x").status_code == 404


def test_tenant_isolation_and_roles(admin, viewer, developer, outsider, upstream, header_conn):
    response = invoke(outsider, url="/anything")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert outsider.get("/api/v1/connections/acme_main/").status_code == 404
    assert invoke(viewer, url="/anything").status_code == 403
    assert invoke(developer, url="/protected/header/X-Api-Key").json()["status_code"] == 200
    assert upstream.counts["/anything"] == 0


def test_invocation_log(admin, upstream, loopback_service):
    loopback_service(admin, param_type="query", base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    invoke(admin, url="/protected/query/X-Api-Key", params={"page": "1"})
    invoke(admin, url="/anything", method="POST")
    invoke(admin, url=f"http://localhost:{upstream.port}/nope")
    logs = admin.get("/api/v1/connections/acme_main/logs/").json()["results"]
    assert [entry["method"] for entry in logs] == ["GET", "POST", "GET"]  # newest first
    assert logs[0]["error"] == "host_not_allowed" and logs[0]["status_code"] is None
    ok = [entry for entry in logs if entry["status_code"] == 200 and "protected" in entry["url"]][0]
    assert ok["url"].endswith("/protected/query/X-Api-Key?page=1") and SECRET not in ok["url"]
    assert ok["actor"] == "admin-acme" and ok["elapsed_ms"] >= 0
    assert all(SECRET not in (row.url + row.error) for row in InvocationLog.objects.all())
    detail = admin.get("/api/v1/connections/acme_main/").json()
    assert detail["last_used_at"] is not None


def test_invoke_query_count_is_constant(admin, upstream, header_conn, django_assert_max_num_queries):
    invoke(admin, url="/anything")
    with django_assert_max_num_queries(3):  # token, connection, log insert
        assert invoke(admin, url="/anything").status_code == 200


def test_cookies_an_upstream_sets_are_never_sent_on_later_calls(admin, httpbin_server, outsider, loopback_service):
    """The outbound client keeps no cookie jar: a cookie an upstream sets must not ride along
    on the next call, whether the same connection's or another organisation's."""
    loopback_service(admin, base_url=httpbin_server.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    assert invoke(admin, url="/cookies/set?sid=cookie-from-upstream").json()["status_code"] in (200, 302)
    assert invoke(admin, url="/cookies").json()["body"] == {"cookies": {}}
    loopback_service(outsider, base_url=httpbin_server.url)
    make_connection(outsider, "acme_api", credentials={"X-Api-Key": SECRET})
    assert invoke(outsider, url="/cookies").json()["body"] == {"cookies": {}}
