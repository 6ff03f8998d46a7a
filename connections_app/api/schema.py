"""drf-spectacular extensions: our authentication schemes and the error envelope."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class TokenAuthScheme(OpenApiAuthenticationExtension):
    target_class = "connections_app.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Token <key>` from `manage.py api_token` or the API tokens page.",
        }


class SessionAuthScheme(OpenApiAuthenticationExtension):
    target_class = "connections_app.api.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class ConnectionsAutoSchema(AutoSchema):
    """Document the error envelope for every status an operation can answer with."""

    ERROR_CODES = ("400", "401", "403", "404", "405", "409", "429", "502", "503", "504")

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        from .serializers import ErrorSerializer

        for code in self.ERROR_CODES:
            responses.setdefault(code, self._get_response_for_code(ErrorSerializer, code, direction=direction))
        return responses
