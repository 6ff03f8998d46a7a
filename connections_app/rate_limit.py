"""A fixed-window counter in the shared cache: one round trip per hit on Redis.

Django's cache API needs three for the same (``add``, then ``incr``, which first checks the
key exists) and builds a new Redis client object on each call; on Redis this sends
``SET key 0 EX window NX`` and ``INCR key`` in one pipeline, on a client kept with the
cache object. Any other backend (the embedded default's in-memory cache) uses the cache API.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle


def hit(key: str, window_seconds: int) -> int:
    """Count one hit on ``key`` for a window of ``window_seconds``; return the count so far.

    Errors of the cache (Redis down) are raised to the caller, which decides.
    """
    backend = caches[DEFAULT_CACHE_ALIAS]  # this thread's backend object
    if not isinstance(backend, RedisCache):
        backend.add(key, 0, timeout=window_seconds + 1)
        return backend.incr(key)
    full_key = backend.make_and_validate_key(key)
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    pipe.set(full_key, 0, ex=window_seconds + 1, nx=True)
    pipe.incr(full_key)
    return pipe.execute()[1]


def redis_client():
    """The default cache's Redis client (the backend's own pool, kept with this thread's
    cache object), or None when the cache is not Redis."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(backend, RedisCache):
        return None
    client = backend.__dict__.get("_rate_limit_client")
    if client is None:
        client = backend._cache.get_client(write=True)  # noqa: SLF001 - the backend's own pool
        backend.__dict__["_rate_limit_client"] = client
    return client


def redis_key(key: str) -> str:
    """``key`` as the default cache names it in Redis (its prefix and version)."""
    return caches[DEFAULT_CACHE_ALIAS].make_and_validate_key(key)


def invoke_window(organisation_id: int, now: float) -> tuple[str, float, int, int]:
    """The invoke throttle's window for an organisation at ``now``: its cache key, start,
    length in seconds and the number of calls it allows (settings.CONNECTIONS_INVOKE_RATE)."""
    limit, duration = _parse_rate(settings.CONNECTIONS_INVOKE_RATE)
    start = int(now // duration) * duration
    return f"throttle_invoke:{organisation_id}:{start}", start, duration, limit


@functools.lru_cache(maxsize=8)
def _parse_rate(rate: str) -> tuple[int, int]:
    return SimpleRateThrottle.parse_rate(None, rate)


def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/min"`` -> (10, 60); the units DRF's throttles take (s, min, hour, day)."""
    count, _, period = rate.partition("/")
    seconds = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}[period.strip() or "min"]
    return int(count), seconds


def allow(*, scope: str, key: str, rate: str) -> bool:
    """Count one hit of ``key`` in ``scope``; False once the rate's budget is spent. A
    cache that is down lets the hit through (the door stays usable; it is only slower to
    abuse with the cache up)."""
    limit, window = parse_rate(rate)
    try:
        return hit(f"rl:{scope}:{key}", window) <= limit
    except Exception:  # noqa: BLE001 - Redis down: do not lock people out
        return True


def client_address(request) -> str:
    """The address to count a browser's hits against (REMOTE_ADDR: the proxy in front
    sets it; a client's own X-Forwarded-For is not trusted)."""
    return request.META.get("REMOTE_ADDR") or "unknown"
