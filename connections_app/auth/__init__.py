"""One strategy per auth type behind ``AuthStrategy``; ``strategy_for`` picks it."""

from services_catalog.schema import ServiceDefinition

from .api_key import ApiKeyStrategy
from .base import AuthStrategy
from .basic import BasicStrategy
from .oauth1 import OAuth1Strategy
from .oauth2 import OAuth2Strategy

STRATEGIES: dict[str, type[AuthStrategy]] = {
    cls.auth_type: cls for cls in (ApiKeyStrategy, BasicStrategy, OAuth1Strategy, OAuth2Strategy)
}


def strategy_for(service: ServiceDefinition) -> AuthStrategy:
    return STRATEGIES[service.auth_type](service)


__all__ = ["AuthStrategy", "strategy_for", "STRATEGIES"]
