"""API authentication: ``Authorization: Token <key>`` or a browser session.

Both resolve to a ``Membership`` (the organisation and role the caller acts with), which
DRF exposes as ``request.auth``.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from ..models import ApiToken, Membership, sha256_hex

SESSION_ORG_KEY = "connections_org_id"


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, key = header.partition(" ")
        if keyword.lower() not in ("token", "bearer"):
            return None
        key = key.strip()
        if not key or " " in key:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        token = (
            ApiToken.objects.select_related("membership__organisation", "membership__user")
            .filter(key_hash=sha256_hex(key))
            .first()
        )
        if token is None or not token.membership.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
            # Coarse on purpose: one write per token every five minutes, not per request.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.membership.user, token.membership

    def authenticate_header(self, request):
        return self.keyword


class SessionAuthentication(authentication.SessionAuthentication):
    """A signed-in browser acts in the organisation chosen in its session."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        return user, current_membership(request._request, user)


def current_membership(request, user) -> Membership | None:
    memberships = Membership.objects.select_related("organisation", "user").filter(user=user)
    chosen = request.session.get(SESSION_ORG_KEY)
    if chosen:
        membership = memberships.filter(organisation_id=chosen).first()
        if membership:
            return membership
    return memberships.order_by("organisation__slug").first()
