"""Template filters that ask the auth-type registry instead of branching on names."""

from django import template

from ..auth.registry import AUTH_TYPES

register = template.Library()


@register.filter
def auth_label(auth_type: str) -> str:
    """``"oauth2"`` -> ``"OAuth 2"``: the auth type's own label (unknown names as given)."""
    cls = AUTH_TYPES.get(auth_type)
    return cls.label if cls else auth_type


@register.filter
def has_oauth_client(auth_type: str) -> bool:
    """Whether services of this auth type carry an OAuth client (id and secret)."""
    cls = AUTH_TYPES.get(auth_type)
    return bool(cls and cls.client_fields)
