"""Roles: viewers read, developers create and use connections, admins manage services."""

from __future__ import annotations

from rest_framework import permissions

from ..models import Membership, Role

WRITE_ROLES = (Role.ADMIN, Role.DEVELOPER)


class RolePermission(permissions.BasePermission):
    """Reads are open to every member unless a view names ``read_roles``; writes need one
    of the view's ``write_roles`` (default: admin and developer)."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        membership = request.auth
        if not isinstance(membership, Membership):
            return False
        if request.method in permissions.SAFE_METHODS:
            roles = getattr(view, "read_roles", None)
            return roles is None or membership.role in roles
        return membership.role in getattr(view, "write_roles", WRITE_ROLES)
