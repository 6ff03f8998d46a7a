"""A service's API shapes, derived from the one service definition (services_catalog.schema).

Input is validated by ``ServiceDefinition`` itself (the same rules as the catalog files), and
the OpenAPI components are its JSON schema, turned into OpenAPI 3.0 by ``openapi``. Nothing
here lists a service's fields, so an option added to the definition reaches the API, its
validation and its schema with no edit here.
"""

from __future__ import annotations

from typing import Any, Mapping

from rest_framework import serializers

from services_catalog.schema import ServiceDefinition, merge_changes

from .. import services
from ..auth.registry import sections
from ..errors import ValidationFailed
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


class ServiceClientInSerializer(serializers.Serializer):
    """An organisation's OAuth client for a preconfigured service: the id and secret fields
    its auth type names (``client_id``/``client_secret`` or ``consumer_key``/``consumer_secret``)."""

    client_id = serializers.CharField(required=False, max_length=2000)
    client_secret = serializers.CharField(required=False, write_only=True, max_length=2000)
    consumer_key = serializers.CharField(required=False, max_length=2000)
    consumer_secret = serializers.CharField(required=False, write_only=True, max_length=2000)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        service: ServiceDefinition = self.context["service"]
        if not service.is_oauth:
            raise ValidationFailed.field("link_name", "Only OAuth services take client credentials.")
        if not isinstance(data, Mapping):
            raise ValidationFailed("Send the client as a JSON object.")
        id_key, secret_key = service.auth.client_fields
        errors = {key: ["Unknown field."] for key in data if key not in (id_key, secret_key)}
        for key in (id_key, secret_key):
            value = data.get(key)
            if not isinstance(value, str) or not value.strip():
                errors[key] = ["This field is required."]
            elif len(value) > 2000 or any(c in value for c in "\r\n\0"):
                errors[key] = ["Must be one line of at most 2000 characters."]
        if errors:
            raise ValidationFailed("The client credentials are not valid.", fields=errors)
        return {"client_id": data[id_key].strip(), "client_secret": data[secret_key]}


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
                block[service.auth.client_fields[0]] = client.client_id
        data["created_at"] = custom.created_at.isoformat().replace("+00:00", "Z") if custom else None
        return data


from . import service_schema  # noqa: E402,F401 - registers the OpenAPI shapes of the classes above
