"""The invoke hot cache (connections_app/hot_cache.py): with warm entries an invoke makes
one Redis round trip and no lookup query; every write that changes an entry is seen by
the very next call; with Redis down, the database path answers."""

from __future__ import annotations

import time

import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from connections_app import hot_cache, services, tokens
from connections_app.models import ApiToken, Connection, Membership, Organisation
from tests.factories import SECRET, invoke
from tests.hot_cache_world import URL, RedisCalls, hot, use_redis, world  # noqa: F401  (fixtures)
from tests.integration.processes import redis_url

pytestmark = pytest.mark.django_db(transaction=True)  # versions are bumped when writes commit


def test_warm_invoke_is_one_round_trip_and_no_lookup_query(world, monkeypatch):
    calls = RedisCalls(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        response = invoke(world, url=URL)
    assert response.status_code == 200 and response.json()["status_code"] == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 1 and sql[0].startswith("INSERT"), sql  # the log row only (tests write it at once)
    assert calls.count == 1


def test_credentials_stay_encrypted_in_the_cache_and_nothing_secret_goes_to_redis(world):
    for entry in hot_cache._connections.values():
        assert SECRET not in repr(entry.values)
    client = redis.Redis.from_url(redis_url())
    for key in client.scan_iter(match="*hv:*"):
        assert SECRET.encode() not in (client.get(key) or b"")
    assert invoke(world, url=URL).json()["status_code"] == 200


def test_throttle_counts_in_the_same_round_trip(world, settings):
    settings.CONNECTIONS_INVOKE_RATE = "2/hour"
    # Earlier tests may have counted in this hour's window of an organisation with the same id.
    from connections_app import rate_limit
    from connections_app.models import Organisation

    key, *_ = rate_limit.invoke_window(Organisation.objects.get(slug="acme").pk, time.time())
    rate_limit.redis_client().delete(rate_limit.redis_key(key))
    assert invoke(world, url=URL).status_code == 200
    assert invoke(world, url=URL).status_code == 200
    refused = invoke(world, url=URL)
    assert refused.status_code == 429 and "Retry-After" in refused.headers


WRITES = {
    # name: (write, expected HTTP status of the next invoke, or the upstream's status in the envelope)
    "token revoked (API)": (lambda c: c.delete(f"/api/v1/tokens/{ApiToken.objects.get(membership__user=c.user).pk}/"), 401),
    "token deleted (admin)": (lambda c: ApiToken.objects.filter(membership__user=c.user).delete(), 401),
    "membership removed": (lambda c: Membership.objects.filter(user=c.user).delete(), 401),
    "role lowered": (lambda c: services.membership_ensure(username=c.user.username, org_slug="acme", role="viewer", create=False), 403),
    "user deactivated": (lambda c: _deactivate(c), 401),
    "connection revoked": (lambda c: c.post("/api/v1/connections/acme_main/revoke/"), 409),
    "connection deleted": (lambda c: c.delete("/api/v1/connections/acme_main/"), 404),
    "credentials changed": (lambda c: c.patch("/api/v1/connections/acme_main/", {"credentials": {"X-Api-Key": "wrong"}}, format="json"),
                            ("upstream", 401)),
    "status changed (update)": (lambda c: tokens.mark_needs_reauth(connection=_conn(), reason="test"), 409),
    "service hosts edited": (lambda c: c.patch("/api/v1/services/acme_api/", {"allowed_hosts": ["elsewhere.example"]}, format="json"),
                             409),  # its connections lose their credentials (needs_reauth)
}


def _deactivate(client) -> None:
    user = get_user_model().objects.get(pk=client.user.pk)
    user.is_active = False
    user.save()


def _conn() -> Connection:
    return Connection.objects.select_related("organisation").get(link_name="acme_main")


@pytest.mark.parametrize("name", WRITES)
def test_each_write_is_seen_by_the_next_call(world, name):
    write, expected = WRITES[name]
    result = write(world)
    assert getattr(result, "status_code", 200) < 300, getattr(result, "content", result)
    response = invoke(world, url=URL)
    if isinstance(expected, tuple):
        assert response.status_code == 200 and response.json()["status_code"] == expected[1]
    else:
        assert response.status_code == expected, response.content


def test_role_lowered_on_another_process_is_seen(world, monkeypatch):
    """A write that bypasses this process entirely (the version bumped in Redis, as another
    server's commit does) is seen at once."""
    membership = Membership.objects.get(user=world.user)
    Membership.objects.filter(pk=membership.pk).update(role="viewer")  # no signal: the cache cannot know...
    assert invoke(world, url=URL).status_code == 200  # ...so it still serves (what the walker test guards)
    hot_cache.changed(organisation_id=membership.organisation_id)  # what the other server's commit sends
    assert invoke(world, url=URL).status_code == 403


def test_redis_lost_its_data_invalidates_every_entry(world):
    client = redis.Redis.from_url(redis_url())
    Membership.objects.filter(user=world.user).update(role="viewer")
    for key in client.scan_iter(match="*hv:boot"):
        client.delete(key)
    assert invoke(world, url=URL).status_code == 403


def test_a_redis_that_forgot_the_script_is_sent_it_again(world, monkeypatch):
    """The round trip names its Lua script by hash; a restarted Redis has none and refuses,
    so that one call sends the script itself (EVAL), and the next names it again."""
    redis.Redis.from_url(redis_url()).script_flush()
    sent = []
    real = redis.Redis.execute_command

    def recorded(self, *args, **kwargs):
        sent.append(args[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", recorded)
    assert invoke(world, url=URL).json()["status_code"] == 200
    assert sent == ["EVALSHA", "EVAL"]
    sent.clear()
    assert invoke(world, url=URL).json()["status_code"] == 200
    assert sent == ["EVALSHA"]


def test_redis_down_falls_back_to_the_database(world, settings):
    use_redis(settings, "redis://127.0.0.1:1/0")  # nothing listens there
    assert invoke(world, url=URL).json()["status_code"] == 200
    world.post("/api/v1/connections/acme_main/revoke/")
    assert invoke(world, url=URL).status_code == 409


def test_a_failed_bump_is_retried_once_redis_answers(world, settings, monkeypatch):
    started = []
    monkeypatch.setattr(hot_cache.threading, "Thread", lambda **kw: type("T", (), {"start": lambda self: started.append(kw)})())
    working = dict(settings.CACHES["default"])
    Membership.objects.filter(user=world.user).update(role="viewer")
    use_redis(settings, "redis://127.0.0.1:1/0")
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": working["KEY_PREFIX"]}}
    hot_cache.changed(organisation_id=Organisation.objects.get(slug="acme").pk)  # Redis down: kept for later
    assert hot_cache._pending and started
    settings.CACHES = {"default": working}  # Redis answers again
    hot_cache._retry_pending(interval=0)
    assert not hot_cache._pending
    assert invoke(world, url=URL).status_code == 403


def test_warm_invoke_does_not_touch_the_database(world, settings, monkeypatch):
    """No query and so no health check (``SELECT 1``): with batched logs, a warm invoke
    never asks for a database connection."""
    from connections_app import invocation_logs

    settings.CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS = 3600  # the row waits for the writer
    asked = []
    wrapper = type(connections["default"])
    real = wrapper.ensure_connection
    monkeypatch.setattr(wrapper, "ensure_connection", lambda self: asked.append(1) or real(self))
    try:
        assert invoke(world, url=URL).json()["status_code"] == 200
    finally:
        monkeypatch.undo()
        invocation_logs.writer.flush()
    assert asked == []


def test_a_large_body_is_left_to_the_view(world, upstream):
    """Above 64 KiB the body is not read twice for its connection name:
    the connection comes from the database, the call works as before."""
    with CaptureQueriesContext(connection) as queries:
        response = invoke(world, url=URL, method="POST", body="x" * 200_000)
    assert response.status_code == 200 and response.json()["status_code"] == 200
    assert any(q["sql"].startswith("SELECT") and Connection._meta.db_table in q["sql"] for q in queries.captured_queries)
