"""Which class handles which ``auth_type``: one line per auth type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .api_key import ApiKey
from .base import AuthType
from .basic import Basic
from .oauth1 import OAuth1
from .oauth2 import OAuth2

if TYPE_CHECKING:
    from services_catalog.schema import ServiceDefinition

AUTH_TYPES: dict[str, type[AuthType]] = {cls.name: cls for cls in (ApiKey, Basic, OAuth1, OAuth2)}


def auth_type_named(name: str) -> type[AuthType]:
    return AUTH_TYPES[name]


def strategy_for(service: "ServiceDefinition") -> AuthType:
    """Return the auth type bound to ``service`` (it signs requests and checks credentials)."""
    return AUTH_TYPES[service.auth_type](service)


def sections() -> dict[str, type[AuthType]]:
    """The service-definition blocks the auth types declare, by block name."""
    return {cls.section: cls for cls in AUTH_TYPES.values() if cls.section}
