"""One home per auth type behind ``AuthType``; ``registry`` maps ``auth_type`` to it."""

from .base import AuthType
from .registry import AUTH_TYPES, auth_type_named, strategy_for

__all__ = ["AuthType", "AUTH_TYPES", "auth_type_named", "strategy_for"]
