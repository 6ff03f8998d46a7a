"""The fixed-window counter behind the invoke throttle (rate_limit.py), on Redis and in memory."""

import os

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from connections_app import rate_limit

REDIS_URL = os.environ.get("TEST_REDIS_URL")


def test_in_memory_the_cache_api_counts():
    caches["default"].delete("t:mem")
    assert [rate_limit.hit("t:mem", 60) for _ in range(3)] == [1, 2, 3]
    caches["default"].delete("t:mem")


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (scripts/test sets TEST_REDIS_URL)")
def test_on_redis_one_pipeline_counts_and_sets_the_window_once():
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                               "KEY_PREFIX": "ratelimit-test"}}):
        backend = caches["default"]
        backend.delete("t:redis")
        assert [rate_limit.hit("t:redis", 60) for _ in range(4)] == [1, 2, 3, 4]
        raw = redis.Redis.from_url(REDIS_URL)
        full_key = backend.make_and_validate_key("t:redis")
        assert 59 <= raw.ttl(full_key) <= 61  # set by the first hit only, never pushed back
        assert backend.get("t:redis") == 4  # the cache API reads the same counter
        backend.delete("t:redis")
