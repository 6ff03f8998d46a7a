"""A fixed-window counter in the shared cache: one round trip per hit on Redis.

Django's cache API needs three for the same (``add``, then ``incr``, which first checks the
key exists) and builds a new Redis client object on each call; on Redis this sends
``SET key 0 EX window NX`` and ``INCR key`` in one pipeline, on a client kept with the
cache object. Any other backend (the embedded default's in-memory cache) uses the cache API.
"""

from __future__ import annotations

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache


def hit(key: str, window_seconds: int) -> int:
    """Count one hit on ``key`` for a window of ``window_seconds``; return the count so far.

    Errors of the cache (Redis down) are raised to the caller, which decides.
    """
    backend = caches[DEFAULT_CACHE_ALIAS]  # this thread's backend object
    if not isinstance(backend, RedisCache):
        backend.add(key, 0, timeout=window_seconds + 1)
        return backend.incr(key)
    full_key = backend.make_and_validate_key(key)
    client = backend.__dict__.get("_rate_limit_client")
    if client is None:
        client = backend._cache.get_client(full_key, write=True)  # noqa: SLF001 - the backend's own pool
        backend.__dict__["_rate_limit_client"] = client
    pipe = client.pipeline(transaction=False)
    pipe.set(full_key, 0, ex=window_seconds + 1, nx=True)
    pipe.incr(full_key)
    return pipe.execute()[1]
