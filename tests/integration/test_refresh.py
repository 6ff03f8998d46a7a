"""Token refresh with a real Celery worker on Redis, against the real OAuth 2.0 server."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from connections_app.models import Connection, ConnectionStatus, Event
from connections_app.tasks import refresh_connection, refresh_due

from .processes import at_once, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def connected(connect, provider):
    """A connected OAuth 2.0 connection holding tokens the provider really issued."""
    connection = connect("acme_main")
    provider.reset_counts()
    return connection


def set_expiry(seconds: float) -> None:
    """An hour-long token with ``seconds`` left (how early it is refreshed scales with its
    lifetime: tokens.refresh_ahead)."""
    Connection.objects.filter(link_name="acme_main").update(
        expires_at=timezone.now() + timedelta(seconds=seconds), last_refreshed_at=timezone.now() - timedelta(hours=1),
    )


def test_beat_and_worker_refresh_before_expiry(connected, provider, celery_processes):
    set_expiry(120)  # inside the default 600 s refresh-ahead window
    before = Connection.objects.get(pk=connected.pk).credentials
    celery_processes.worker()
    celery_processes.beat(CONNECTIONS_REFRESH_SWEEP_SECONDS=1)
    wait_for(lambda: provider.grant_counts["refresh_token"] == 1, message="a background refresh")
    recent = timezone.now() - timedelta(minutes=5)
    after = wait_for(lambda: (c := Connection.objects.get(pk=connected.pk)).last_refreshed_at > recent and c, message="the stored token")
    assert after.credentials["access_token"] != before["access_token"]
    assert after.credentials["refresh_token"] != before["refresh_token"]  # rotation saved with it
    assert after.expires_at > timezone.now() + timedelta(minutes=30)
    # Later sweeps find nothing due: still exactly one refresh.
    time.sleep(3)
    assert provider.grant_counts["refresh_token"] == 1


def test_embedded_default_refreshes_without_redis(connected, provider, tmp_path):
    """The run command's worker and beat on the file-system queue (no Redis) refresh too."""
    from .processes import Processes

    procs = Processes(tmp_path)
    env = {"TEST_REDIS_URL": "", "TEST_CELERY_BROKER": "filesystem", "CONNECTIONS_VAR_DIR": tmp_path}
    try:
        set_expiry(120)
        procs.worker(**env)
        procs.beat(CONNECTIONS_REFRESH_SWEEP_SECONDS=1, **env)
        wait_for(lambda: provider.grant_counts["refresh_token"] == 1, message="a refresh through the file-system queue")
        # The grant is counted when the provider answers; the worker stores it just after.
        recent = timezone.now() - timedelta(minutes=5)
        wait_for(lambda: Connection.objects.get(pk=connected.pk).last_refreshed_at > recent, message="the refreshed token stored")
    finally:
        procs.stop_all()


def test_twenty_concurrent_invokes_on_an_expired_token_refresh_once(connected, provider, live_server, admin):
    set_expiry(-5)
    provider.token_delay_seconds = 0.5  # widen the race

    def call():
        response = requests.post(
            f"{live_server.url}/api/v1/invoke/", json={"connection": "acme_main", "url": "/api/me"},
            headers={"Authorization": f"Token {admin.token}"}, timeout=60,
        )
        return response.status_code, response.json().get("status_code")

    results = at_once([call] * 20)
    assert results == [(200, 200)] * 20
    assert provider.grant_counts["refresh_token"] == 1


def test_invoke_and_worker_racing_refresh_once(connected, provider, celery_processes, admin):
    set_expiry(-5)
    provider.token_delay_seconds = 1.0
    celery_processes.worker()
    refresh_connection.delay(connected.pk)
    wait_for(lambda: provider.grant_attempts["refresh_token"] >= 1, message="the worker's refresh to start")
    envelope = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()
    assert envelope["status_code"] == 200
    assert provider.grant_counts["refresh_token"] == 1  # the invoke waited and used the worker's token


def test_a_killed_worker_loses_no_token(connected, provider, celery_processes, admin):
    # The provider keeps the refresh token valid (no rotation, like Google, or a reuse
    # grace period): what the product must guarantee is that nothing it stored is lost.
    provider.rotate_refresh_tokens = False
    provider.token_delay_seconds = 3
    before = Connection.objects.get(pk=connected.pk)
    worker = celery_processes.worker(CONNECTIONS_REFRESH_LEASE_SECONDS=2)
    refresh_connection.delay(connected.pk, True)
    wait_for(lambda: provider.grant_attempts["refresh_token"] >= 1, message="the refresh to reach the provider")
    celery_processes.kill(worker)
    row = Connection.objects.get(pk=connected.pk)
    assert row.status == ConnectionStatus.CONNECTED
    assert row.credentials == before.credentials  # intact, still decrypts
    provider.token_delay_seconds = 0
    wait_for(lambda: Connection.objects.get(pk=connected.pk).refresh_lock_until < timezone.now(), timeout=10, message="the lease to lapse")
    body = admin.post("/api/v1/connections/acme_main/refresh/").json()
    assert body["status"] == "connected"
    assert Connection.objects.get(pk=connected.pk).credentials["access_token"] != before.credentials["access_token"]


def test_invalid_grant_in_the_worker_means_needs_reauth_and_no_retry(connected, provider, celery_processes):
    provider.refresh_fault_invalid_grant = True
    set_expiry(60)
    celery_processes.worker()
    refresh_due.delay()
    wait_for(lambda: Connection.objects.get(pk=connected.pk).status == ConnectionStatus.NEEDS_REAUTH, message="needs_reauth")
    row = Connection.objects.get(pk=connected.pk)
    assert "invalid_grant" in row.error
    assert Event.objects.filter(action="connection.needs_reauth", target="acme_main").count() == 1
    time.sleep(3)
    assert provider.grant_attempts["refresh_token"] == 1  # terminal: not retried


def test_transient_failures_are_retried_and_the_connection_stays_connected(connected, provider, celery_processes):
    provider.set_token_fault("500", times=2)
    set_expiry(60)
    celery_processes.worker(CONNECTIONS_REFRESH_BACKOFF_SECONDS=0.5)
    refresh_connection.delay(connected.pk)
    wait_for(lambda: provider.grant_counts["refresh_token"] == 1, timeout=60, message="a successful retry")
    # The grant is counted when the provider answers; the worker stores it (and clears the
    # retry's error) just after.
    row = wait_for(lambda: Connection.objects.filter(pk=connected.pk, error="").first(), message="the refresh stored")
    assert row.status == ConnectionStatus.CONNECTED
    assert provider.grant_attempts["refresh_token"] == 3


def test_redis_down_leaves_invoke_working(connected, provider, admin, settings):
    # The throttle's cache is Redis, and Redis is gone (nothing listens on port 1).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    envelope = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/api/me"}, format="json").json()
    assert envelope["status_code"] == 200
