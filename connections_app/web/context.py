"""Template context: the organisation and role the signed-in user acts with, and a warning
for admins when the page is served at another address than CONNECTIONS_BASE_URL."""

from urllib.parse import urlsplit

from django.conf import settings

from .. import services
from ..api.authentication import current_membership

DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str, int]:
    parts = urlsplit(f"{scheme}://{netloc}")
    return (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 80)


def base_url_mismatch(request) -> str | None:
    """The address this page is served at when it differs from CONNECTIONS_BASE_URL, else None.

    Snippets and OAuth redirect URIs use CONNECTIONS_BASE_URL: served elsewhere, what a
    person copies from a page would not reach this server.
    """
    base = urlsplit(settings.CONNECTIONS_BASE_URL)
    try:
        served = request.get_host()
    except Exception:  # noqa: BLE001 - a disallowed host is refused elsewhere
        return None
    if _host_port(served, request.scheme) == _host_port(base.netloc, base.scheme or "http"):
        return None
    return f"{request.scheme}://{served}"


def organisation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if getattr(request, "_membership", None) is None:
        request._membership = current_membership(request, user)
    membership = request._membership
    is_admin = membership is not None and membership.role == "admin"
    return {
        "membership": membership,
        "can_write": membership is not None and membership.role in ("admin", "developer"),
        "is_admin": is_admin,
        "memberships": services.membership_list(user=user),
        "served_at": base_url_mismatch(request) if is_admin else None,
        "base_url": settings.CONNECTIONS_BASE_URL,
    }
