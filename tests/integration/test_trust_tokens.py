"""Issue 12 ("Trust, round 2"), points 3, 4, 8, 9 and 11: every token call has one deadline,
no refresh is cut off by a caller or lost to a late writer, bad token answers never 500,
failing refreshes back off, and short-lived tokens are refreshed once per expiry.

Against the real OAuth 2.0 server (tests/servers) and small servers on loopback; the
Celery test runs a real worker and beat on Redis like test_refresh.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.utils import timezone
from flask import Flask, Response

from connections_app import tokens
from connections_app.auth.oauth1 import OAuth1TokenSession
from connections_app.auth.oauth2 import answers
from connections_app.auth.oauth2.client_auth import token_session
from connections_app.errors import UpstreamTimeout
from connections_app.models import Connection, ConnectionStatus, CustomService, Event, OAuthState
from services_catalog.schema import ServiceDefinition
from tests.servers.runner import start_wsgi


pytestmark = pytest.mark.django_db


def expire(link_name: str, seconds_left: float = -5) -> None:
    """An hour-long token with ``seconds_left`` to live."""
    Connection.objects.filter(link_name=link_name).update(
        expires_at=timezone.now() + timedelta(seconds=seconds_left), last_refreshed_at=timezone.now() - timedelta(hours=1),
    )


# -- point 3: one overall deadline for every token call ------------------------------------
class DripServer:
    """Accepts connections and sends an HTTP answer one byte at a time, forever: only an
    overall deadline stops a client (each byte arrives well within any read timeout)."""

    def __init__(self, *, headers_first: bool):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.headers_first = headers_first
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn):
        try:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            if self.headers_first:
                conn.sendall(head)
                head = b""
            for byte in head + b'{"access_token": "' + b"a" * 99_900:
                conn.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


@pytest.fixture(params=[True, False], ids=["slow-body", "slow-headers"])
def drip(request):
    server = DripServer(headers_first=request.param)
    yield server
    server.stop()


def _service(url: str) -> ServiceDefinition:
    return ServiceDefinition.from_dict({
        "link_name": "drip", "name": "Drip", "auth_type": "oauth2", "allowed_hosts": ["api.example.com"],
        "oauth2": {"client_id": "c", "client_secret": "s", "authorize_url": f"{url}/a", "token_url": f"{url}/token",
                   "revoke_url": f"{url}/revoke"},
    }, source="test", kind="custom")


@pytest.mark.parametrize("call", ["refresh", "code_exchange", "client_credentials", "revoke", "oauth1_request_token", "oauth1_access_token"])
def test_every_token_call_has_one_overall_deadline(drip, settings, call):
    settings.CONNECTIONS_TOKEN_TIMEOUT_SECONDS = 1
    service = _service(drip.url)
    session = token_session(service.oauth2, redirect_uri="http://testserver/oauth/callback")
    oauth1 = OAuth1TokenSession("key", "secret", token="t", token_secret="ts", verifier="v")
    run = {
        "refresh": lambda: session.refresh_token(f"{drip.url}/token", refresh_token="r"),
        "code_exchange": lambda: session.fetch_token(f"{drip.url}/token", grant_type="authorization_code", code="c"),
        "client_credentials": lambda: session.fetch_token(f"{drip.url}/token", grant_type="client_credentials"),
        "revoke": lambda: session.revoke_token(f"{drip.url}/revoke", token="t"),
        "oauth1_request_token": lambda: OAuth1TokenSession("key", "secret").fetch_request_token(f"{drip.url}/rt"),
        "oauth1_access_token": lambda: oauth1.fetch_access_token(f"{drip.url}/at"),
    }[call]
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        run()
    assert time.monotonic() - started < 3


def test_a_refresh_lease_not_longer_than_a_token_call_fails_the_system_check(settings):
    assert not [e for e in run_checks() if e.id in ("connections.E004", "connections.E005")]
    settings.CONNECTIONS_REFRESH_LEASE_SECONDS = 25
    settings.CONNECTIONS_TOKEN_TIMEOUT_SECONDS = 20
    assert [e.id for e in run_checks() if e.id.startswith("connections.E00")] == ["connections.E004"]


def test_celery_tasks_have_soft_and_hard_time_limits(settings):
    from settings.celery import app

    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.task_soft_time_limit > settings.CONNECTIONS_TOKEN_TIMEOUT_SECONDS


def test_a_late_writer_never_overwrites_a_newer_token(org):
    """Worker A's lease ran out and B took it and stored a token; A's answer arrives late."""
    connection = Connection.objects.create(organisation=org, link_name="late", name="late", service_link_name="x",
                                           status=ConnectionStatus.CONNECTED)
    connection.set_credentials({"access_token": "old", "refresh_token": "r0"})
    connection.save()
    assert tokens._take_lease(connection.pk, "worker-a") is not None
    Connection.objects.filter(pk=connection.pk).update(refresh_lock_until=timezone.now() - timedelta(seconds=1))
    b = tokens._take_lease(connection.pk, "worker-b")
    b.organisation = org
    tokens._store_refreshed(b, answers.grant_from({"access_token": "from-b", "refresh_token": "r-b", "expires_in": 3600}), owner="worker-b")
    late = tokens._store_refreshed(connection, answers.grant_from({"access_token": "from-a", "refresh_token": "r-a", "expires_in": 3600}),
                                   owner="worker-a")
    stored = Connection.objects.get(pk=connection.pk).credentials
    assert stored["access_token"] == "from-b" and stored["refresh_token"] == "r-b"
    assert late["access_token"] == "from-b"  # the late writer goes on with the stored token


# -- point 4: a refresh is never cut off by its caller -------------------------------------
def test_a_refresh_after_a_401_outlives_the_callers_deadline(connect, provider, admin):
    """The invoke's own deadline (1 s) passes while the token endpoint takes 1.5 s: the
    rotated refresh token still reaches the database, and the next call works."""
    connect("acme_main")
    provider.revoke_all_access_tokens()  # the upstream answers 401: refresh and retry
    provider.token_delay_seconds = 1.5
    response = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me", "timeout": 1}, format="json")
    assert response.status_code == 504
    provider.token_delay_seconds = 0
    stored = Connection.objects.get(link_name="acme_main")
    assert provider.find_token(refresh_token=stored.credentials["refresh_token"]) is not None  # the rotated one
    assert provider.grant_counts["refresh_token"] == 1
    again = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()
    assert again["status_code"] == 200 and provider.grant_counts["refresh_token"] == 1
    assert Connection.objects.get(link_name="acme_main").status == ConnectionStatus.CONNECTED


def test_a_401_from_another_host_after_a_redirect_triggers_no_refresh(admin, provider, httpbin_server, upstream):
    from .conftest import issue_tokens

    assert admin.post("/api/v1/services/", {
        "link_name": "hop", "name": "Hop", "auth_type": "oauth2", "base_url": httpbin_server.url,
        "allowed_hosts": [f"http://127.0.0.1:{httpbin_server.port}", f"http://localhost:{upstream.port}"],
        "oauth2": {"client_id": "cnx-client", "client_secret": "client-secret-x1",
                   "authorize_url": f"{provider.url}/oauth/authorize", "token_url": f"{provider.url}/oauth/token"},
    }, format="json").status_code == 201
    assert admin.post("/api/v1/connections/", {"name": "h", "link_name": "hop_main", "service": "hop"}, format="json").status_code == 201
    connection = Connection.objects.get(link_name="hop_main")
    connection.set_credentials(answers.credentials_from_token(issue_tokens(provider)))
    connection.status, connection.expires_at, connection.connected_at = ConnectionStatus.CONNECTED, timezone.now() + timedelta(hours=1), timezone.now()
    connection.save()
    provider.reset_counts()
    target = f"http://localhost:{upstream.port}/protected/header/Authorization"
    envelope = admin.post("/api/v1/invoke/", {"connection": "hop_main", "url": "/redirect-to",
                                              "params": {"url": target}}, format="json").json()
    assert envelope["status_code"] == 401  # the other host never saw the token
    assert provider.grant_attempts["refresh_token"] == 0


# -- point 8: bad token answers never 500 --------------------------------------------------
ANSWERS = {
    "huge": ('{"access_token": "at-huge", "token_type": "Bearer", "expires_in": 1000000000000000000000000000000}', 200, "application/json"),
    "infinite": ('{"access_token": "at-inf", "token_type": "Bearer", "expires_in": 1e400}', 200, "application/json"),
    "nan": ('{"access_token": "at-nan", "token_type": "Bearer", "expires_in": NaN}', 200, "application/json"),
    "negative": ('{"access_token": "at-neg", "token_type": "Bearer", "expires_in": -5}', 200, "application/json"),
    "string": ('{"access_token": "at-str", "token_type": "Bearer", "expires_in": "soon"}', 200, "application/json"),
    "numeric_string": ('{"access_token": "at-num", "token_type": "Bearer", "expires_in": "3600"}', 200, "application/json"),
    "no_token_type": ('{"access_token": "at-ntt", "expires_in": 3600}', 200, "application/json"),
    "html_error": ("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"),
    "html_200": ("<html><body>Log in</body></html>", 200, "text/html"),
}


@pytest.fixture(scope="module")
def odd_token_server():
    app = Flask("odd_tokens")

    @app.post("/token/<kind>")
    def token(kind):
        body, status, media = ANSWERS[kind]
        return Response(body, status=status, content_type=media)

    served = start_wsgi(app)
    yield served
    served.stop()


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_bad_token_answers_give_a_clear_page_and_are_recorded(client, admin, odd_token_server, kind):
    """Through the real consent pages: never a 500; the outcome (token or error) is stored
    with the state that was used up for it."""
    from urllib.parse import parse_qs, urlsplit

    url = odd_token_server.url
    assert admin.post("/api/v1/services/", {
        "link_name": "odd", "name": "Odd", "auth_type": "oauth2", "base_url": url,
        "oauth2": {"client_id": "c", "client_secret": "s", "authorize_url": f"{url}/authorize", "token_url": f"{url}/token/{kind}"},
    }, format="json").status_code == 201
    created = admin.post("/api/v1/connections/", {"name": "o", "link_name": "odd_main", "service": "odd"}, format="json").json()
    path = urlsplit(created["authorize_url"]).path
    page = client.get(path)
    started = client.post(path) if page.status_code == 200 else page
    assert started.status_code == 302
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    answer = client.get("/oauth/callback", {"code": "c1", "state": state})
    connection = Connection.objects.get(link_name="odd_main")
    assert OAuthState.objects.get(connection=connection).used_at is not None
    if kind in ("huge", "negative", "numeric_string", "no_token_type"):
        assert answer.status_code == 302 and connection.status == ConnectionStatus.CONNECTED
        expires_at = connection.expires_at
        assert expires_at is None if kind == "negative" else expires_at > timezone.now() + timedelta(minutes=30)
        assert connection.credentials["token_type"] == "Bearer"
    else:
        assert answer.status_code == 400
        assert connection.status == ConnectionStatus.PENDING and "token exchange failed" in connection.error.lower()
        assert "token exchange failed" in answer.content.decode().lower()


@pytest.mark.parametrize("value, expected", [
    (3600, 3600), ("3600", 3600), (10**30, answers.MAX_EXPIRES_IN), (float("inf"), None), (float("nan"), None),
    (-5, None), ("soon", None), (True, None), (None, None), ([1], None),
])
def test_expires_in_is_read_safely(value, expected):
    assert answers.expires_in_seconds(value) == expected


# -- point 9: failing refreshes back off ---------------------------------------------------
def test_a_failing_refresh_backs_off_however_many_calls_come(connect, provider, admin, settings):
    settings.CONNECTIONS_REFRESH_BACKOFF_SECONDS = 60
    connect("acme_main")
    expire("acme_main", seconds_left=20)  # still usable: calls go on with the old token
    provider.reset_counts()
    provider.set_token_fault("500")
    for _ in range(10):
        envelope = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()
        assert envelope["status_code"] == 200
    assert provider.grant_attempts["refresh_token"] == 1
    body = admin.get("/api/v1/connections/acme_main/").json()
    retry_at = Connection.objects.get(link_name="acme_main").refresh_retry_at
    assert timezone.now() + timedelta(seconds=25) < retry_at <= timezone.now() + timedelta(seconds=61)
    assert body["refresh_retry_at"] and body["status"] == "connected" and "next try at" in body["error"]
    expire("acme_main", seconds_left=-5)  # expired while backing off: a clear error, still no call
    response = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json")
    assert response.status_code == 502 and "next try" in response.json()["error"]["message"]
    assert provider.grant_attempts["refresh_token"] == 1
    # Once the backoff has passed, the next call refreshes (and the backoff is cleared).
    provider.set_token_fault(None)
    Connection.objects.filter(link_name="acme_main").update(refresh_retry_at=timezone.now() - timedelta(seconds=1))
    assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"] == 200
    row = Connection.objects.get(link_name="acme_main")
    assert row.refresh_retry_at is None and row.refresh_failures == 0 and row.error == ""


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.CONNECTIONS_REFRESH_BACKOFF_SECONDS = 10
    settings.CONNECTIONS_REFRESH_BACKOFF_MAX_SECONDS = 100
    for failures, ceiling in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (40, 100)):
        delays = [tokens.backoff_delay(failures).total_seconds() for _ in range(30)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_invalid_client_marks_the_service_client_once_not_each_connection(connect, provider, admin, org, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    from connections_app import notifications

    sent = []
    monkeypatch.setattr(notifications.current_app, "send_task", lambda name, args, **kw: sent.append(args))
    org.webhook_url = "https://hooks.example.com/x"
    org.save()
    connect("first")
    connect("second")
    provider.register_client("cnx-client", "a-new-secret", ["http://testserver/oauth/callback"], scope="read")
    provider.reset_counts()
    for name in ("first", "second"):
        expire(name)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post("/api/v1/invoke/", {"connection": name, "url": "/api/me"}, format="json")
        assert response.status_code == 502 and "client" in response.json()["error"]["message"]
    assert provider.grant_attempts["refresh_token"] == 1  # the second did not even ask
    assert set(Connection.objects.values_list("status", flat=True)) == {ConnectionStatus.CONNECTED}
    assert not Event.objects.filter(action="connection.needs_reauth").exists()
    refused = Event.objects.filter(action="service.client_refused")
    assert refused.count() == 1 and refused.get().target == "acme_oauth"
    assert len(sent) == 1  # one notification
    assert CustomService.objects.get(link_name="acme_oauth").client_refused_at is not None
    # The admin sets the client again: refreshes work again.
    provider.register_client("cnx-client", "client-secret-x1", ["http://testserver/oauth/callback"], scope="read")
    assert admin.patch("/api/v1/services/acme_oauth/", {"oauth2": {"client_secret": "client-secret-x1"}}, format="json").status_code == 200
    assert CustomService.objects.get(link_name="acme_oauth").client_refused_at is None
    assert admin.post("/api/v1/invoke/", {"connection": "first", "url": "/api/me"}, format="json").json()["status_code"] == 200


# -- point 11: one refresh per expiry, also for short-lived tokens -------------------------
def test_a_token_refreshed_a_moment_ago_is_used_not_refreshed_again(connect, provider, admin):
    """A 40-second token, just refreshed: the fixed 60 s leeway refreshed it on every call."""
    connection = connect("acme_main", expires_in=40, lifetime=40)
    Connection.objects.filter(pk=connection.pk).update(last_refreshed_at=timezone.now())
    provider.reset_counts()
    for _ in range(5):
        assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"] == 200
    assert provider.grant_attempts["refresh_token"] == 0
    leeway = tokens.refresh_leeway(Connection.objects.get(pk=connection.pk))
    assert timedelta(seconds=9) < leeway <= timedelta(seconds=10)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_five_second_tokens_and_a_two_second_sweep_refresh_once_per_expiry(connect, provider, admin, celery_processes):
    """A real worker and beat sweep every 2 s while calls come every 0.2 s: each token is
    refreshed once, by whoever gets there first, never again right after."""
    provider.access_token_lifetime = 5
    connection = connect("acme_main", expires_in=5, lifetime=5)
    provider.reset_counts()
    celery_processes.worker()
    celery_processes.beat(CONNECTIONS_REFRESH_SWEEP_SECONDS=2)
    started = time.monotonic()
    statuses = []
    while time.monotonic() - started < 14:
        statuses.append(admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()["status_code"])
        time.sleep(0.2)
    assert set(statuses) == {200}
    refreshes = [r["time"] for r in provider.token_requests if r["grant_type"] == "refresh_token"]
    # One per expiry: a 5 s token is refreshed at most every ~2.5 s (half its life, the
    # sweep) and at least before it runs out.
    assert 3 <= len(refreshes) <= 14 / 2.5 + 1, refreshes
    gaps = [b - a for a, b in zip(refreshes, refreshes[1:])]
    assert all(gap >= 1.5 for gap in gaps), gaps
    assert Connection.objects.get(pk=connection.pk).status == ConnectionStatus.CONNECTED
