"""The hot cache across servers: two gunicorn servers on one PostgreSQL and one Redis, each
with warm entries, while calls run on both. A token revoked on one server, a connection
revoked on one server and a role lowered (by the management step, a third process) are
refused on the other server on the very next call."""

from __future__ import annotations

import threading

import pytest
import requests

from connections_app import services
from connections_app.models import Membership, Role
from connections_app.services import api_token_create
from tests.factories import SECRET, make_connection, make_service
from tests.integration.processes import redis_url

from .conftest import postgresql_only

pytestmark = [
    pytest.mark.integration, pytest.mark.django_db(transaction=True),
    postgresql_only("two servers and the test writing at once; SQLite takes one writer at a time"),
]
URL = "/protected/header/X-Api-Key"


def call(server, key: str, link_name: str) -> int:
    response = requests.post(f"{server.url}/api/v1/invoke/", json={"connection": link_name, "url": URL},
                             headers={"Authorization": f"Token {key}"}, timeout=30)
    return response.status_code


class Load:
    """Calls on both servers, all the time, with a token nobody touches."""

    def __init__(self, servers, key: str):
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(s, key), daemon=True) for s in servers for _ in range(2)]

    def _run(self, server, key):
        while not self.stop.is_set():
            self.statuses.append(call(server, key, "acme_steady"))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def test_changes_on_one_server_are_refused_on_the_other_at_once(admin, org, member_client, upstream, gunicorns, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url()}}
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    make_connection(admin, "acme_api", link_name="acme_steady", credentials={"X-Api-Key": SECRET})
    developer = member_client(org, Role.DEVELOPER)
    membership = Membership.objects.get(user=admin.user)
    revoked, revoked_key = api_token_create(membership=membership, name="to revoke")
    a, b = (gunicorns.start(name, REDIS_URL=redis_url(), CONNECTIONS_INVOKE_RATE="1000000/min") for name in ("web-a", "web-b"))

    with Load([a, b], admin.token) as load:
        for server in (a, b):  # warm every entry on both servers
            for _ in range(3):
                assert call(server, revoked_key, "acme_main") == 200
                assert call(server, developer.token, "acme_main") == 200

        # A token revoked through server A: refused by server B on the next call.
        response = requests.delete(f"{a.url}/api/v1/tokens/{revoked.pk}/", headers={"Authorization": f"Token {admin.token}"}, timeout=30)
        assert response.status_code == 204
        assert call(b, revoked_key, "acme_main") == 401

        # A role lowered by a third process: refused by both servers on the next call.
        services.membership_ensure(username=developer.user.username, org_slug=org.slug, role="viewer", create=False)
        assert call(b, developer.token, "acme_main") == 403
        assert call(a, developer.token, "acme_main") == 403

        # A connection revoked through server A: refused by server B on the next call.
        response = requests.post(f"{a.url}/api/v1/connections/acme_main/revoke/", headers={"Authorization": f"Token {admin.token}"}, timeout=30)
        assert response.status_code == 200
        assert call(b, admin.token, "acme_main") == 409
        assert call(a, admin.token, "acme_main") == 409

    assert load.statuses and set(load.statuses) == {200}, sorted(set(load.statuses))
    for server in (a, b):
        assert "hot cache skipped" not in server.log()  # the hot path really served
