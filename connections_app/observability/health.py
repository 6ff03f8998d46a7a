"""Readiness checks: can this process serve requests right now?

Each check returns None when fine or a short reason (an exception class name, never its
message: a database or Redis error can quote a URL with its password).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from .. import crypto

PROBE_CONTEXT = "readyz:probe"


def database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any driver error means not ready
        connection.close_if_unusable_or_obsolete()
        return type(exc).__name__
    return None


def redis() -> str | None:
    """Ping Redis (the broker and cache) when this deployment uses it."""
    if not settings.REDIS_URL:
        return None
    import redis as redis_lib

    client = redis_lib.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__
    finally:
        client.close()
    return None


def encryption() -> str | None:
    """The keys encrypt and decrypt, and open the newest stored connection secret."""
    from ..models import Connection

    try:
        if crypto.decrypt(crypto.encrypt("probe", context=PROBE_CONTEXT), context=PROBE_CONTEXT) != "probe":
            return "probe mismatch"
        newest = (
            Connection.objects.exclude(credentials_encrypted="").order_by("-pk")
            .values_list("credentials_encrypted", flat=True).first()
        )
    except crypto.EncryptionKeyUnavailable:
        return "keys unusable"
    except Exception as exc:  # noqa: BLE001 - the database check reports its own failure
        return type(exc).__name__
    if newest and not crypto.can_decrypt(newest):
        return "stored secrets do not decrypt"
    return None


CHECKS = {"database": database, "redis": redis, "encryption": encryption}


def run() -> dict[str, str]:
    """``{"database": "ok", "redis": "skipped", "encryption": "failed: ..."}``."""
    results = {}
    for name, check in CHECKS.items():
        if name == "redis" and not settings.REDIS_URL:
            results[name] = "skipped"
            continue
        problem = check()
        results[name] = "ok" if problem is None else f"failed: {problem}"
    return results
