"""Roles: viewers read, developers create and use connections, admins manage services.
Scoped API tokens narrow that further (token_limits.py has the rules)."""

from __future__ import annotations

from rest_framework import permissions

from .. import token_limits
from ..errors import PermissionDenied
from ..models import Membership, Role, TokenAction

WRITE_ROLES = (Role.ADMIN, Role.DEVELOPER)
# Routes whose writes use a connection rather than change anything: the token action
# ``invoke`` allows them. Every other write is ``manage``; every read is ``read``.
INVOKE_ROUTES = frozenset({"invoke", "connection-test"})


class RolePermission(permissions.BasePermission):
    """Reads are open to every member unless a view names ``read_roles``; writes need one
    of the view's ``write_roles`` (default: admin and developer). Then the API token's
    limits, if any: an action outside them is 403, a connection outside them 404."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        membership = request.auth
        if not isinstance(membership, Membership):
            return False
        if request.method in permissions.SAFE_METHODS:
            roles = getattr(view, "read_roles", None)
            allowed = roles is None or membership.role in roles
        else:
            allowed = membership.role in getattr(view, "write_roles", WRITE_ROLES)
        if allowed:
            token_check(request, view, membership)
        return allowed


def request_action(request) -> str:
    """The token action a request needs: read, invoke or manage."""
    if request.method in permissions.SAFE_METHODS:
        return TokenAction.READ
    match = request.resolver_match
    return TokenAction.INVOKE if match is not None and match.url_name in INVOKE_ROUTES else TokenAction.MANAGE


def token_check(request, view, membership: Membership) -> None:
    """Apply the limits of the API token the request uses (none for a browser session)."""
    token = getattr(membership, "api_token", None)
    if token is None:
        return
    token_limits.action_check(token, request_action(request), role=membership.role)
    if token.connections is None:
        return
    if getattr(view, "basename", None) == "connection" and "link_name" in view.kwargs:
        token_limits.connection_check(token, view.kwargs["link_name"])
    url_name = request.resolver_match.url_name if request.resolver_match else ""
    data = request.data if request.method == "POST" and url_name in ("invoke", "connection-list") else None
    if not isinstance(data, dict):
        return
    if url_name == "invoke":
        token_limits.connection_check(token, data.get("connection"))
    elif isinstance(data.get("link_name"), str) and data["link_name"] not in token.connections:
        # Nothing to hide about a connection that does not exist yet: say why.
        raise PermissionDenied(f"This API token is limited to the connections: {', '.join(token.connections)}.")
