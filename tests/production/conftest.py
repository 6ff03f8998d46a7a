"""Fixtures for production tests: gunicorn servers, and the integration suite's Redis,
Celery, OAuth 2.0 provider and connected-connection fixtures."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.integration.conftest import celery_processes, connect, oauth_service, provider, redis_client  # noqa: F401  (shared)

from .gunicorn import Gunicorns



def on_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def postgresql_only(why: str):
    return pytest.mark.skipif(not on_postgresql(), reason=f"needs PostgreSQL ({why}); scripts/test runs it in its PostgreSQL pass")


@pytest.fixture
def gunicorns(tmp_path):
    servers = Gunicorns(tmp_path)
    yield servers
    servers.stop_all()
