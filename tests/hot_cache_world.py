"""A warm hot cache on Redis for the tests that measure it (tests/connections_app/test_hot_cache.py
and tests/production/test_hot_cache_flat_cost.py): the fixtures ``hot`` (Redis as the cache,
the hot cache emptied) and ``world`` (a connection invoked until its entries are cached),
and ``RedisCalls``, which counts round trips."""

from __future__ import annotations

import uuid

import pytest
import redis

from connections_app import hot_cache
from tests.factories import SECRET, invoke, make_connection, make_service
from tests.integration.processes import redis_url

URL = "/protected/header/X-Api-Key"  # the upstream answers 401 to any other key


def use_redis(settings, url: str) -> None:
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": f"hc-{uuid.uuid4().hex[:8]}",
    }}


@pytest.fixture
def hot(settings):
    if not redis_url():
        pytest.skip("TEST_REDIS_URL is not set")
    use_redis(settings, redis_url())
    hot_cache.clear()
    hot_cache._pending.clear()
    yield settings
    hot_cache.clear()
    hot_cache._pending.clear()


class RedisCalls:
    """Counts round trips to Redis (a pipeline is one)."""

    def __init__(self, monkeypatch):
        self.count = 0
        for cls, name in ((redis.client.Pipeline, "execute"), (redis.Redis, "execute_command")):
            real = getattr(cls, name)

            def counted(*args, _real=real, **kwargs):
                self.count += 1
                return _real(*args, **kwargs)

            monkeypatch.setattr(cls, name, counted)


@pytest.fixture
def world(hot, admin, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})
    for _ in range(3):  # learn the ids, then the entries
        assert invoke(admin, url=URL).json()["status_code"] == 200
    return admin
