"""API authentication: ``Authorization: Token <key>`` (or ``Bearer <key>``) or a browser
session.

Both resolve to a ``Membership`` (the organisation and role the caller acts with), which
DRF exposes as ``request.auth``. With a token, ``membership.api_token`` is that token (its
limits: token_limits.py) and so is ``user.api_token`` (events and logs name it); with a
session both are ``None``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import authentication, exceptions

from .. import hot_cache
from ..models import ApiToken, Membership, Organisation, sha256_hex
from ..row_queries import Part, RowQuery

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
        membership = membership_for_key(key, request=request)
        return membership.user, membership

    def authenticate_header(self, request):
        return self.keyword


def membership_for_key(key: str, *, request=None) -> Membership:
    """The membership an API key acts as, its token attached; AuthenticationFailed for a
    malformed, unknown, revoked or expired key. The REST API and MCP both use this; an
    invoke through the REST API may be served by the hot cache (hot_cache.py)."""
    key = key.strip()
    if not key or " " in key:
        raise exceptions.AuthenticationFailed("Invalid token header.")
    key_hash = sha256_hex(key)
    found = (hot_cache.token_membership(key_hash, request, read=token_values, assemble=token_assemble)
             if request is not None else hot_cache.NOT_SERVED)
    if found is hot_cache.NOT_SERVED:
        found = token_membership(key_hash)
    if found is None or not found[1].user.is_active:
        raise exceptions.AuthenticationFailed("Invalid or revoked token.")
    token, membership = found
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise exceptions.AuthenticationFailed("This token has expired.")
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
        # Coarse on purpose: one write per token every five minutes, not per request.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        hot_cache.token_used(token.pk, now)
    membership.api_token = membership.user.api_token = token
    return membership


_TOKEN_QUERY: RowQuery | None = None
TOKEN_FIELDS = ("id", "name", "prefix", "connections", "actions", "expires_at", "last_used_at", "membership_id")


def token_query() -> RowQuery:
    """The token with its membership, user and organisation, by key hash: one fixed query
    on every API call not served by the hot cache (row_queries.py says why not the ORM's)."""
    global _TOKEN_QUERY  # noqa: PLW0603 - built once, on first use (the user model is swappable)
    if _TOKEN_QUERY is None:
        _TOKEN_QUERY = RowQuery(
            [Part(ApiToken, "t", TOKEN_FIELDS), Part(Membership, "m"),
             Part(get_user_model(), "u", ("id", "username", "is_active")), Part(Organisation, "o")],
            "FROM {t_table} JOIN {m_table} ON {m}.id = {t}.membership_id JOIN {u_table} ON {u}.id = {m}.user_id "
            "JOIN {o_table} ON {o}.id = {m}.organisation_id WHERE {t}.key_hash = %s",
        )
    return _TOKEN_QUERY


def token_assemble(values: tuple) -> tuple[ApiToken, Membership]:
    """Fresh instances from ``token_query().first_values``: the token, its membership with
    user and organisation attached."""
    token, membership, user, organisation = token_query().instances(values)
    membership.user, membership.organisation = user, organisation
    token.membership = membership
    return token, membership


def token_values(key_hash: str) -> tuple | None:
    """The row of ``token_query()`` for that key hash, or None."""
    return token_query().first_values([key_hash])


def token_membership(key_hash: str) -> tuple[ApiToken, Membership] | None:
    """The token with that hash and its membership (user and organisation attached)."""
    values = token_values(key_hash)
    return None if values is None else token_assemble(values)


class SessionAuthentication(authentication.SessionAuthentication):
    """A signed-in browser acts in the organisation chosen in its session."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        membership = current_membership(request._request, user)
        if membership is not None:
            membership.api_token = None
        return user, membership


def current_membership(request, user) -> Membership | None:
    memberships = Membership.objects.select_related("organisation", "user").filter(user=user)
    chosen = request.session.get(SESSION_ORG_KEY)
    if chosen:
        membership = memberships.filter(organisation_id=chosen).first()
        if membership:
            return membership
    return memberships.order_by("organisation__slug").first()
