"""drf-spectacular extensions: our authentication schemes, the error envelope, and what the
input serializers add (unknown fields refused: ``additionalProperties: false``; a list that
may not be empty: ``minItems: 1``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from .fields import LINK_NAME_PATTERN


class TokenAuthScheme(OpenApiAuthenticationExtension):
    """``Authorization: Token <key>``; the same key is also taken as ``Bearer <key>``
    (authentication.TokenAuthentication), so both schemes are declared."""

    target_class = "connections_app.api.authentication.TokenAuthentication"
    name = ["tokenAuth", "bearerAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "The header's value is `Token <key>` (the word Token, a space, the key); the key "
                "comes from `manage.py api_token` or the API tokens page.",
            },
            {"type": "http", "scheme": "bearer", "description": "The same key as `Authorization: Bearer <key>`."},
        ]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]  # either one, not both


class SessionAuthScheme(OpenApiAuthenticationExtension):
    """A signed-in browser's session cookie; unsafe methods also need Django's CSRF token."""

    target_class = "connections_app.api.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME,
            "description": "The browser session; POST, PUT, PATCH and DELETE also need the `X-CSRFToken` header.",
        }


class ConnectionsAutoSchema(AutoSchema):
    """Document the error envelope for every status an operation can answer with."""

    ERROR_CODES = ("400", "401", "403", "404", "405", "409", "429", "502", "503", "504")

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        from .serializers import ErrorSerializer

        for code in self.ERROR_CODES:
            responses.setdefault(code, self._get_response_for_code(ErrorSerializer, code, direction=direction))
        return responses

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] == "link_name":  # services and connections alike
                parameter["schema"] = {"type": "string", "pattern": LINK_NAME_PATTERN}
        return parameters

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # drf-spectacular leaves out that a ListField(allow_empty=False) refuses [].
        if isinstance(field, serializers.ListField) and not field.allow_empty and schema.get("type") == "array":
            schema.setdefault("minItems", 1)
        return schema

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # drf-spectacular reads "required" from a body's own fields; a body of several shapes
        # (oneOf) has none at its top, so its serializer says so (body_required).
        return schema, required or getattr(serializer, "body_required", False)

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if getattr(serializer, "refuses_unknown_fields", False):  # StrictInput and the like
            schema["additionalProperties"] = False
        return schema


class TextMapExtension(OpenApiSerializerFieldExtension):
    """A ``TextMap`` field's schema depends on how it was made (numbers, lists)."""

    target_class = "connections_app.api.fields.TextMap"

    def map_serializer_field(self, auto_schema, direction):
        return self.target.schema()
