"""drf-spectacular extensions: describe our two authentication schemes in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
