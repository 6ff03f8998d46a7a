"""API keys: each parameter's value travels under its key as header, query or form field."""

from __future__ import annotations

from .base import AuthType, ParameterInjector, encodings_of


class ApiKey(AuthType):
    name = "api_key"
    label = "API key"
    takes_parameters = True

    def credential_fields(self):
        return self.service.parameters

    def build_auth(self, credentials: dict) -> ParameterInjector:
        return ParameterInjector(self.service.param_type, credentials)

    def injected_names(self) -> set[str]:
        return {p.key.lower() for p in self.service.parameters}

    def hint(self, credentials: dict) -> str:
        first = next(iter(credentials.values()), "")
        return first[-4:] if len(first) >= 12 else ""

    def secret_values(self, credentials: dict) -> list[str]:
        return encodings_of(credentials.values())

    def has_usable_credentials(self, credentials: dict) -> bool:
        return all(credentials.get(p.key) for p in self.service.parameters)
