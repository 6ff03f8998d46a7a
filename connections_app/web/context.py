"""Template context: the organisation and role the signed-in user acts with."""

from .. import accounts
from ..api.authentication import current_membership


def organisation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if getattr(request, "_membership", None) is None:
        request._membership = current_membership(request, user)
    membership = request._membership
    return {
        "membership": membership,
        "can_write": membership is not None and membership.role in ("admin", "developer"),
        "is_admin": membership is not None and membership.role == "admin",
        "memberships": accounts.membership_list(user=user),
    }
