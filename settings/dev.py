"""The embedded default: one machine, SQLite under var/, generated secrets."""

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.get_bool("DJANGO_DEBUG", False)

# scripts/serve passes its bind address (BIND): unless CONNECTIONS_BASE_URL says otherwise,
# pages, snippets and redirect URIs use it, and its host is allowed.
CONNECTIONS_BASE_URL = env.base_url()
_bind = env.bind_host_port(env.get("BIND"))
if _bind and _bind[0] not in env.WILDCARD_HOSTS and _bind[0] not in ALLOWED_HOSTS:  # noqa: F405
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, _bind[0]]  # noqa: F405
