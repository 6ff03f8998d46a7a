"""OpenAPI components for the service shapes, made from the pydantic definition's JSON schema.

pydantic writes JSON Schema 2020-12; the API's document is OpenAPI 3.0, so ``openapi_30``
rewrites the few constructs 3.0 lacks (``{"type": "null"}`` branches become ``nullable``,
``const`` an ``enum``, ``propertyNames`` is dropped) and the ``$defs`` become components.

A new custom service (``ServiceIn``) is a ``oneOf`` of one shape per auth type, told apart by
``auth_type`` (an OpenAPI discriminator), each made from the registry: its block required and
not null, the other types' blocks absent, and what its own rules (``check_service``) allow of
``parameters`` and ``param_type``. A change (``ServicePatch``) may leave ``auth_type`` out,
so it stays one shape with every field optional.
"""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent

from services_catalog.schema import PARAM_TYPES, ServiceDefinition

from ..auth.base import AuthType
from ..auth.registry import AUTH_TYPES, sections
from .service_serializers import CLIENT_FIELDS, CLIENT_SHAPES

DROPPED_KEYS = ("title", "propertyNames")
COMPONENTS = "#/components/schemas/"


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


def accepted_param_types(auth: type[AuthType]) -> list[str]:
    """The ``param_type`` values an auth type takes (``AuthType.param_types``), in order."""
    return [p for p in PARAM_TYPES if p in auth.param_types]


def branch_name(prefix: str, auth: type[AuthType]) -> str:
    return prefix + "".join(part.capitalize() for part in auth.name.split("_"))


def _enum(auto_schema, name: str, values: list[str]) -> dict:
    """A reference to an enum component of this branch (named here: drf-spectacular would name
    a narrowed copy of a shared enum after a hash)."""
    auto_schema.registry.register_on_missing(
        ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema={"type": "string", "enum": values})
    )
    return {"$ref": COMPONENTS + name}


def _auth_type_shape(auto_schema, schema: dict, auth: type[AuthType], prefix: str) -> dict:
    """The service shape for one auth type, from the shape every service has."""
    name = branch_name(prefix, auth)
    shape = copy.deepcopy(schema)
    shape["description"] = f"A custom service with auth_type {auth.name} ({auth.label})."
    properties = shape["properties"]
    properties["auth_type"] = _enum(auto_schema, f"{name}AuthTypeEnum", [auth.name])
    for block, other in sections().items():
        if other is not auth:
            del properties[block]
    if auth.section:
        properties[auth.section] = {"$ref": f"{COMPONENTS}{prefix}{auth.section_model.__name__}"}
        shape["required"].append(auth.section)
    if auth.takes_parameters and auth.parameters_required:
        properties["parameters"]["minItems"] = 1
        shape["required"].append("parameters")
    elif not auth.takes_parameters:
        properties["parameters"]["maxItems"] = 0
    param_types = accepted_param_types(auth)
    if tuple(param_types) != PARAM_TYPES:
        properties["param_type"] = {"allOf": [_enum(auto_schema, f"{name}ParamTypeEnum", param_types)], "default": param_types[0]}
    # services.custom_service_create/update: a custom service has no per-connection config.
    properties["config_fields"]["maxItems"] = 0
    # ServiceDefinition: the hosts credentials may go to are listed, or those of a URL. Said
    # as "not none of them": openapi-python-client cannot read an anyOf beside properties.
    one_of_them = [
        {"required": ["allowed_hosts"], "properties": {"allowed_hosts": {"type": "array", "minItems": 1}}},
        *({"required": [url], "properties": {url: {"type": "string"}}} for url in ("base_url", "sample_url")),
    ]
    shape["not"] = {"allOf": [{"not": branch} for branch in one_of_them]}
    return shape


def service_input_schema(*, partial: bool = False) -> dict:
    prefix = "ServicePatch" if partial else "ServiceIn"
    schema = ServiceDefinition.model_json_schema(mode="validation", ref_template=f"{COMPONENTS}{prefix}{{model}}")
    if partial:  # a PATCH names only what changes, in the service and inside its blocks
        for part in (schema, *schema.get("$defs", {}).values()):
            part.pop("required", None)
    return schema


def service_create_schema(auto_schema) -> dict:
    """``ServiceIn``: one shape per auth type under an ``auth_type`` discriminator."""
    prefix = "ServiceIn"
    schema = _register(auto_schema, service_input_schema(), prefix)
    mapping = {}
    for auth in AUTH_TYPES.values():
        name = branch_name(prefix, auth)
        auto_schema.registry.register_on_missing(
            ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=_auth_type_shape(auto_schema, schema, auth, prefix))
        )
        mapping[auth.name] = COMPONENTS + name
    return {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "auth_type", "mapping": mapping},
        "description": schema.get("description", ""),
    }


def service_output_schema() -> dict:
    schema = ServiceDefinition.model_json_schema(mode="serialization", ref_template=f"{COMPONENTS}Service{{model}}")
    schema = copy.deepcopy(schema)
    for auth in sections().values():
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

    def map_serializer(self, auto_schema, direction):
        return service_create_schema(auto_schema)


class ServicePatchShape(_ServiceShape):
    target_class = "connections_app.api.service_serializers.ServicePatchSerializer"
    prefix = "ServicePatch"

    def schema(self):
        return service_input_schema(partial=True)


class ServiceClientInShape(OpenApiSerializerExtension):
    """An organisation's client: one of the (id, secret) pairs, as the server takes them."""

    target_class = "connections_app.api.service_serializers.ServiceClientInSerializer"

    def map_serializer(self, auto_schema, direction):
        branches = []
        for keys in CLIENT_SHAPES:
            name = "ServiceClientIn" + "".join(part.capitalize() for part in keys[-1].split("_"))
            fields = {}
            for key in keys:
                write_only = key == keys[1]
                pattern, max_length, _message = CLIENT_FIELDS[key]
                fields[key] = {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": pattern}
                if write_only:
                    fields[key]["writeOnly"] = True
            auto_schema.registry.register_on_missing(ResolvedComponent(
                name=name, type=ResolvedComponent.SCHEMA, object=name,
                schema={"type": "object", "properties": fields, "required": list(keys), "additionalProperties": False},
            ))
            branches.append({"$ref": COMPONENTS + name})
        return {"oneOf": branches, "description": "The organisation's client: the id and secret fields its auth type names "
                "(and its redirect_name for a service that sends one: eBay's RuName)."}


class ServiceOutShape(_ServiceShape):
    target_class = "connections_app.api.service_serializers.ServiceOutSerializer"
    prefix = "Service"

    def schema(self):
        return service_output_schema()
