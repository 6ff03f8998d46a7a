"""The one module that reads the environment.

Every other module asks ``settings``; nothing else calls ``os.environ``. For the embedded
default (no variables set) the secrets it needs are generated once into ``var/`` with 0600
permissions, so a fresh clone starts with one command and keeps its keys across restarts.
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CONNECTIONS_VAR_DIR", BASE_DIR / "var"))


def get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def get_bool(name: str, default: bool = False) -> bool:
    value = get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (got {value!r}).")


def get_int(name: str, default: int) -> int:
    value = get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {value!r}).") from None


def get_float(name: str, default: float) -> float:
    value = get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not (math.isfinite(number) and number >= 0):
        raise ImproperlyConfigured(f"{name} must be a number of 0 or more (got {value!r}).")
    return number


def get_list(name: str) -> list[str]:
    value = get(name) or ""
    return [part.strip() for part in value.split(",") if part.strip()]


def get_mandatory(name: str) -> str:
    """Return a variable that production cannot run without, or stop with a clear message."""
    value = get(name)
    if value is None:
        raise ImproperlyConfigured(f"{name} is not set; production settings need it.")
    return value


WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")


def bind_host_port(bind: str | None) -> tuple[str, str] | None:
    """Split a gunicorn ``BIND`` (``host:port``, ``[v6]:port``, ``host``) into host and port;
    None for a Unix socket or nothing."""
    if not bind or bind.startswith(("unix:", "fd://")):
        return None
    host, sep, port = bind.rpartition(":") if bind.count(":") == 1 or bind.startswith("[") else ("", "", "")
    if not sep:
        host, port = bind, "8000"
    return host, port or "8000"


def base_url_from_bind(bind: str | None) -> str | None:
    """The URL a server bound to ``bind`` is reached at on this machine, or None."""
    parts = bind_host_port(bind)
    if parts is None:
        return None
    host, port = parts
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"  # every address; this one surely works here
    return f"http://{host}:{port}"


def base_url() -> str:
    """CONNECTIONS_BASE_URL; unset, the address ``scripts/serve`` binds to (BIND), so that
    snippets and OAuth redirect URIs name the address the server really answers at."""
    value = get("CONNECTIONS_BASE_URL") or base_url_from_bind(get("BIND")) or "http://127.0.0.1:8000"
    return value.rstrip("/")


def var_secret(filename: str, make) -> str:
    """Return the secret kept in var/<filename>, creating it (0600) the first time."""
    path = VAR_DIR / filename
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
    os.chmod(path, 0o600)
    return path.read_text().strip()


def new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def new_django_secret() -> str:
    return secrets.token_urlsafe(50)
