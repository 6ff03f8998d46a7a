"""Test settings: fixed keys, fast hashing; DATABASE_URL picks SQLite or PostgreSQL."""

import os

from .base import *  # noqa: F401,F403
from .base import VAR_DIR, env, filesystem_broker_options

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CONNECTIONS_ENCRYPTION_KEYS = ["Rk9SLVRFU1RTLU9OTFktLWtleS1udW1iZXItb25lLS0="]
CONNECTIONS_ALLOW_PRIVATE_NETWORKS = True
CONNECTIONS_BASE_URL = "http://testserver"
# Rows written at once: a test reads them right after the call, inside its transaction
# (tests/connections_app/test_invocation_logs.py turns batching on).
CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS = env.get_float("CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS", 0)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = False
# Integration tests run real workers on Redis (scripts/test sets TEST_REDIS_URL), or on
# the embedded default's file-system queue when TEST_CELERY_BROKER=filesystem.
if env.get("TEST_CELERY_BROKER") == "filesystem":
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR)
else:
    CELERY_BROKER_URL = env.get("TEST_REDIS_URL") or "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# A file (not :memory:) for the SQLite test database, so that processes the tests start
# (a Celery worker, gunicorn) see the same data.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per test run (pid), so runs side by side never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# The browser-door throttles count per address, and every test client is 127.0.0.1: tests
# that check them set their own small rates.
CONNECTIONS_LOGIN_RATE = "100000/min"
CONNECTIONS_OAUTH_START_RATE = "100000/min"
