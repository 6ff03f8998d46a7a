"""A service's API shapes, derived from the one service definition (services_catalog.schema).

Input is validated by ``ServiceDefinition`` itself (the same rules as the catalog files), and
the OpenAPI components are its JSON schema, turned into OpenAPI 3.0 by ``openapi``. Nothing
here lists a service's fields, so an option added to the definition reaches the API, its
validation and its schema with no edit here.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from rest_framework import serializers

from services_catalog.schema import ServiceDefinition, merge_changes

from .. import services
from ..auth.registry import sections
from ..errors import ValidationFailed
from ..auth.oauth2.config import REDIRECT_NAME_PATTERN
from ..models import ServiceClient


# What the API answers but does not take: sent back (a GET edited and PATCHed), it is ignored.
READ_ONLY = ("kind", "created_at", "has_client_secret")


def _without_read_only(data: Mapping) -> dict:
    return {
        k: _without_read_only(v) if isinstance(v, Mapping) and k in sections() else v
        for k, v in data.items() if k not in READ_ONLY
    }


def _definition(data: Any) -> ServiceDefinition:
    if not isinstance(data, Mapping):
        raise ValidationFailed("Send the service as a JSON object.")
    return services.custom_service_parse(_without_read_only(data))


class ServiceInSerializer(serializers.Serializer):
    """A custom service as sent to ``POST /services/``; ``validated_data`` is the
    ``ServiceDefinition`` (its client secret, if any, inside its OAuth block)."""

    body_required = True  # the schema's body is a oneOf (api/schema.py)

    def to_internal_value(self, data: Any) -> ServiceDefinition:
        return _definition(data)


class ServicePatchSerializer(serializers.Serializer):
    """Changes to a custom service (``PATCH``), merged onto ``context["current"]`` and
    validated whole; ``validated_data`` is the new ``ServiceDefinition``."""

    def to_internal_value(self, data: Any) -> ServiceDefinition:
        if not isinstance(data, Mapping):
            raise ValidationFailed("Send the changes as a JSON object.")
        current: ServiceDefinition = self.context["current"]
        if "link_name" in data and data["link_name"] != current.link_name:
            raise ValidationFailed.field("link_name", "The link name of a service cannot change.")
        return _definition(merge_changes(current.to_dict(), dict(data)))


# What each field of an organisation's client takes: one line with something in it, or a PEM
# key (several lines). The validation below and the OpenAPI schema (service_schema) read it.
ONE_LINE = r"^[^\r\n\x00]*\S[^\r\n\x00]*$"
ONE_LINE_MESSAGE = "Must be one line of at most 2000 characters."
CLIENT_FIELDS = {
    "client_id": (ONE_LINE, 2000, ONE_LINE_MESSAGE),
    "client_secret": (ONE_LINE, 2000, ONE_LINE_MESSAGE),
    "consumer_key": (ONE_LINE, 2000, ONE_LINE_MESSAGE),
    "consumer_secret": (ONE_LINE, 2000, ONE_LINE_MESSAGE),
    # A PEM key spans lines; the service definition checks it is one.
    "client_private_key": (r"^[^\x00]*\S[^\x00]*$", 16384, "Must be a PEM key of at most 16384 characters."),
    "redirect_name": (REDIRECT_NAME_PATTERN, 200, "Must be a redirect URI name (letters, digits, '_', '-', '.', '~')."),
}
# The (id, secret) pairs a client is sent as, the one an auth type names for its service
# (AuthType.client_field_names): OAuth 2.0, OAuth 2.0 with private_key_jwt, OAuth 1.0a.
CLIENT_PAIRS = (("client_id", "client_secret"), ("client_id", "client_private_key"), ("consumer_key", "consumer_secret"))
# A pair with the client's other values an auth type names (AuthType.client_extra_names):
# eBay's RuName beside the id and secret.
CLIENT_SHAPES = (*CLIENT_PAIRS, ("client_id", "client_secret", "redirect_name"))


class ServiceClientInSerializer(serializers.Serializer):
    """An organisation's OAuth client for a preconfigured service: the id and secret fields
    its auth type names (``client_id`` and ``client_secret`` or ``client_private_key``, or
    ``consumer_key`` and ``consumer_secret``)."""

    body_required = True  # the schema's body is a oneOf (api/schema.py)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        service: ServiceDefinition = self.context["service"]
        if not service.is_oauth:
            raise ValidationFailed.field("link_name", "Only OAuth services take client credentials.")
        if not isinstance(data, Mapping):
            raise ValidationFailed("Send the client as a JSON object.")
        id_key, secret_key = service.client_fields
        keys = (id_key, secret_key, *service.client_extra_names)
        errors = {key: ["Unknown field."] for key in data if key not in keys}
        for key in keys:
            value = data.get(key)
            pattern, max_length, message = CLIENT_FIELDS[key]
            if not isinstance(value, str) or not value.strip():
                errors[key] = ["This field is required."]
            elif len(value) > max_length or not re.fullmatch(pattern, value):
                errors[key] = [message]
        if errors:
            raise ValidationFailed("The client credentials are not valid.", fields=errors)
        return {"client_id": data[id_key].strip(), "client_secret": data[secret_key],
                **{key: data[key].strip() for key in service.client_extra_names}}


class ServiceOutSerializer(serializers.Serializer):
    """A service as the API returns it: the definition (no secret), ``kind``, ``created_at``
    and ``has_client_secret`` in its OAuth block. Context: ``clients`` (link name ->
    ServiceClient) and ``custom`` (link name -> CustomService) for this organisation."""

    def to_representation(self, service: ServiceDefinition) -> dict:
        data = service.to_dict()
        data["kind"] = service.kind
        custom = self.context.get("custom", {}).get(service.link_name)
        client: ServiceClient | None = self.context.get("clients", {}).get(service.link_name)
        if service.client is not None:
            block = data[service.auth.section]
            block["has_client_secret"] = bool(custom.client_secret_encrypted) if custom else bool(client and client.client_secret_encrypted)
            if client:
                block[service.client_fields[0]] = client.client_id
                block.update({name: client.redirect_name or None for name in service.client_extra_names})
        data["created_at"] = custom.created_at.isoformat().replace("+00:00", "Z") if custom else None
        return data


from . import service_schema  # noqa: E402,F401 - registers the OpenAPI shapes of the classes above
