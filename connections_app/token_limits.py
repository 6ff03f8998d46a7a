"""What a scoped API token may do: the rules, in one place, for the REST API and MCP.

A token acts as its member (one user in one organisation, with a role) and may be limited
further: to some connections (by link name), to some actions, and in time. A limit never
adds anything: the role is always checked too. ``token`` below is the ``ApiToken`` a
request authenticated with, or ``None`` (a browser session: the role alone decides).

- A connection outside the token's list is *not found*, exactly as if it did not exist.
- An action outside the token's list is *permission denied*.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import NotFound, PermissionDenied
from .models import ApiToken, Role, TokenAction

ACTIONS = tuple(TokenAction.values)  # read, invoke, manage
# What each role can do at most; a token of that member never gets more.
ROLE_ACTIONS = {
    Role.ADMIN: frozenset(ACTIONS),
    Role.DEVELOPER: frozenset(ACTIONS),
    Role.VIEWER: frozenset({TokenAction.READ}),
}


def connection_missing(link_name: str) -> NotFound:
    """The error for a connection that does not exist, or that a token may not see: the
    same words either way, so a limited token learns nothing about the others."""
    return NotFound(f"No connection with link name {link_name!r}.")


def allowed_connections(token: ApiToken | None) -> list[str] | None:
    """The link names a token may see, or ``None`` when it is not limited to some."""
    return None if token is None else token.connections


def connection_check(token: ApiToken | None, link_name: object) -> None:
    """Raise *not found* when the token may not see the connection ``link_name``."""
    allowed = allowed_connections(token)
    if allowed is not None and isinstance(link_name, str) and link_name not in allowed:
        raise connection_missing(link_name)


def action_check(token: ApiToken | None, action: str, *, role: str) -> None:
    """Raise *permission denied* when the role or the token does not allow ``action``."""
    if action not in ROLE_ACTIONS.get(role, ()):
        raise PermissionDenied("Your role does not allow this.")
    if token is not None and token.actions is not None and action not in token.actions:
        raise PermissionDenied(f"This API token is limited to: {', '.join(token.actions) or 'nothing'}.")


def within(child_values: Iterable[str] | None, parent_values: Iterable[str] | None) -> bool:
    """Whether a limit (``None``: unlimited) is no wider than another."""
    if parent_values is None:
        return True
    return child_values is not None and set(child_values) <= set(parent_values)


def token_within(child: ApiToken, parent: ApiToken | None) -> bool:
    """Whether ``child`` can do nothing that ``parent`` (the token looking) cannot."""
    if parent is None:
        return True
    if parent.expires_at is not None and (child.expires_at is None or child.expires_at > parent.expires_at):
        return False
    return within(child.connections, parent.connections) and within(child.actions, parent.actions)
