"""OpenAPI components for the service shapes, made from the pydantic definition's JSON schema.

pydantic writes JSON Schema 2020-12; the API's document is OpenAPI 3.0, so ``openapi_30``
rewrites the few constructs 3.0 lacks (``{"type": "null"}`` branches become ``nullable``,
``const`` an ``enum``, ``propertyNames`` is dropped) and the ``$defs`` become components.
"""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent

from services_catalog.schema import ServiceDefinition

from ..auth.registry import sections

DROPPED_KEYS = ("title", "propertyNames")


def openapi_30(node: Any) -> Any:
    """Return ``node`` (a JSON Schema 2020-12 fragment) as OpenAPI 3.0 schema."""
    if isinstance(node, list):
        return [openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: openapi_30(v) for k, v in node.items() if k not in DROPPED_KEYS}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    branches = node.get("anyOf")
    if branches and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            node.update({"allOf": rest, "nullable": True})
        elif len(rest) == 1:
            node.update({**rest[0], "nullable": True})
        else:
            node.update({"anyOf": rest, "nullable": True})
    return node


def _register(auto_schema, schema: dict, prefix: str) -> dict:
    for name, sub in schema.pop("$defs", {}).items():
        auto_schema.registry.register_on_missing(
            ResolvedComponent(name=prefix + name, type=ResolvedComponent.SCHEMA, object=prefix + name, schema=openapi_30(sub))
        )
    return openapi_30(schema)


def service_input_schema(*, partial: bool = False) -> dict:
    prefix = "ServicePatch" if partial else "ServiceIn"
    schema = ServiceDefinition.model_json_schema(mode="validation", ref_template=f"#/components/schemas/{prefix}{{model}}")
    if partial:  # a PATCH names only what changes, in the service and inside its blocks
        for part in (schema, *schema.get("$defs", {}).values()):
            part.pop("required", None)
    return schema


def service_output_schema() -> dict:
    schema = ServiceDefinition.model_json_schema(mode="serialization", ref_template="#/components/schemas/Service{model}")
    schema = copy.deepcopy(schema)
    for block, auth in sections().items():
        if auth.client_fields:
            definition = schema["$defs"][auth.section_model.__name__]
            definition["properties"]["has_client_secret"] = {"type": "boolean", "readOnly": True}
            definition["required"].append("has_client_secret")
    schema["properties"]["kind"] = {"type": "string", "enum": ["preconfigured", "custom"], "readOnly": True}
    schema["properties"]["created_at"] = {"type": "string", "format": "date-time", "nullable": True, "readOnly": True}
    schema["required"] += ["kind", "created_at"]
    return schema


class _ServiceShape(OpenApiSerializerExtension):
    prefix = ""

    def get_name(self, auto_schema, direction):
        return self.prefix

    def schema(self) -> dict:
        raise NotImplementedError

    def map_serializer(self, auto_schema, direction):
        return _register(auto_schema, self.schema(), self.prefix)


class ServiceInShape(_ServiceShape):
    target_class = "connections_app.api.service_serializers.ServiceInSerializer"
    prefix = "ServiceIn"

    def schema(self):
        return service_input_schema()


class ServicePatchShape(_ServiceShape):
    target_class = "connections_app.api.service_serializers.ServicePatchSerializer"
    prefix = "ServicePatch"

    def schema(self):
        return service_input_schema(partial=True)


class ServiceOutShape(_ServiceShape):
    target_class = "connections_app.api.service_serializers.ServiceOutSerializer"
    prefix = "Service"

    def schema(self):
        return service_output_schema()
