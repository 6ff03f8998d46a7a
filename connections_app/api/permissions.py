"""Roles: viewers read, developers create and use connections, admins manage services."""

from __future__ import annotations

from rest_framework import permissions

from ..models import Membership, Role

WRITE_ROLES = (Role.ADMIN, Role.DEVELOPER)


class RolePermission(permissions.BasePermission):
    """Allow safe methods to any member; writes to the roles a view names.

    A view sets ``write_roles`` (default: admin and developer) or ``action_roles``
    (per viewset action) to narrow it.
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        membership = request.auth
        if not isinstance(membership, Membership):
            return False
        if request.method in permissions.SAFE_METHODS and not getattr(view, "read_roles", None):
            return True
        action = getattr(view, "action", None)
        roles = getattr(view, "action_roles", {}).get(action) or getattr(view, "write_roles", WRITE_ROLES)
        if request.method in permissions.SAFE_METHODS:
            roles = getattr(view, "read_roles", None) or roles
        return membership.role in roles
