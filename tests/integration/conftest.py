"""Fixtures for integration tests: Redis and real Celery processes."""

from __future__ import annotations

import os

import pytest
import redis

from .processes import Processes, redis_url


@pytest.fixture(scope="session")
def redis_client():
    url = redis_url()
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_REDIS_URL is not set in CI")
        pytest.skip("TEST_REDIS_URL is not set (scripts/test sets it)")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {url}")
        pytest.skip(f"Redis is not reachable at {url}")
    return client


@pytest.fixture
def celery_processes(redis_client, tmp_path):
    redis_client.flushdb()
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()
    redis_client.flushdb()
